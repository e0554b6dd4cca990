"""A refresh-token chain shared by a fleet through Redis.

A Box refresh token works once: hosts that each refresh from a copy of one
token break each other's chain. With a fleet, the chain lives in Redis. A
refresh is serialized by a Redis lock (redis-py's ``Lock``), the rotated
refresh token and the new access token are stored in Redis before the access
token is used, and every other host takes that access token instead of
refreshing again. The file store (``BOX_REFRESH_TOKEN_STORE``) only seeds the
chain when Redis has none yet.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from boxzipfs.client.auth import EXPIRY_MARGIN, RefreshTokenAuth
from boxzipfs.errors import AuthError, NetworkError

LOCK_SECONDS = 30.0


class FleetRefreshTokenAuth(RefreshTokenAuth):
    """The refresh-token grant with its chain in Redis under ``boxzipfs:fleet:<fleet>:auth``."""

    def __init__(
        self,
        http: httpx.Client,
        token_url: str,
        seed: Path | None,
        client_id: str,
        client_secret: str,
        client: redis.Redis,
        fleet: str,
    ) -> None:
        super().__init__(http, token_url, seed or Path("/nonexistent"), client_id, client_secret)
        self._redis = client
        self._key = chain_key(fleet)
        self._refresh_lock = client.lock(
            f"{self._key}:lock", timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS
        )
        self._local = threading.Lock()  # one refresh attempt per process at a time

    @classmethod
    def sharing(cls, auth: RefreshTokenAuth, client: redis.Redis, fleet: str) -> FleetRefreshTokenAuth:
        """``auth``'s login, with its chain moved to the fleet's Redis (its file only seeds it)."""
        shared = cls(
            auth._http, auth._token_url, auth._store, auth._client_id, auth._client_secret, client, fleet
        )
        shared.pacer = auth.pacer
        return shared

    def _shared(self) -> dict[str, str]:
        try:
            raw = self._redis.hgetall(self._key)
        except redis.RedisError as exc:
            raise NetworkError(f"the fleet's token store is unreachable: {type(exc).__name__}") from None
        return {_text(k): _text(v) for k, v in raw.items()}

    def _refresh_token(self) -> str:
        token = self._shared().get("refresh_token")
        if token:
            return token
        return super()._refresh_token()  # the seed, read once to start the chain

    def _accept(self, answer: dict[str, Any]) -> None:
        """Store the rotated chain in Redis before anyone uses the new access token."""
        rotated = answer.get("refresh_token") or self._refresh_token()  # Box may keep the old one
        store_chain(self._redis, self._key, {**answer, "refresh_token": rotated})

    def _current(self, rejected: str | None) -> str | None:
        """The fleet's access token if it is still good (and not the one Box just rejected)."""
        shared = self._shared()
        access = shared.get("access_token")
        if access and access != rejected and float(shared.get("expires", "0")) > time.time():
            self._access = access
            self._expires = time.monotonic() + float(shared["expires"]) - time.time()
            return access
        return None

    def _obtain(self, rejected: str | None) -> str:
        with self._local:
            found = self._current(rejected)
            if found is not None:
                return found
            try:
                if not self._refresh_lock.acquire():
                    raise AuthError("another host holds the fleet's token refresh for too long")
            except redis.RedisError as exc:
                raise NetworkError(f"the fleet's token lock is unreachable: {type(exc).__name__}") from None
            try:
                found = self._current(rejected)  # another host refreshed while we waited
                return found if found is not None else self._fetch()
            finally:
                with contextlib.suppress(redis.RedisError):  # else it expires by itself
                    self._refresh_lock.release()

    def token(self) -> str:
        with self._lock:
            if self._access is not None and time.monotonic() < self._expires:
                return self._access
        return self._obtain(None)

    def refresh(self, rejected: str) -> str:
        return self._obtain(rejected)

    def stored(self) -> dict[str, Any]:
        """What Redis holds, secrets masked (for status and tests)."""
        shared = self._shared()
        return {"has_refresh_token": bool(shared.get("refresh_token")), "expires": shared.get("expires")}


def chain_key(fleet: str) -> str:
    return f"boxzipfs:fleet:{fleet}:auth"


def store_chain(client: redis.Redis, key: str, answer: dict[str, Any]) -> None:
    """A token answer as the fleet's chain: refresh token, access token and its expiry, in one
    MULTI (``boxzipfs login`` seeds it this way, every refresh rotates it)."""
    expires = time.time() + float(answer.get("expires_in", 3600)) - EXPIRY_MARGIN
    try:
        pipe = client.pipeline()  # MULTI: the three fields change together
        pipe.hset(key, "refresh_token", str(answer["refresh_token"]))
        pipe.hset(key, "access_token", str(answer["access_token"]))
        pipe.hset(key, "expires", f"{expires:.3f}")
        pipe.execute()
    except redis.RedisError as exc:
        raise NetworkError(f"cannot store the token chain in Redis: {type(exc).__name__}") from None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

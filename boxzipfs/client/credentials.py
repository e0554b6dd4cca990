"""The one place credentials are opened, for the mount and for every command.

A refresh token works once, so every process that uses a fleet's login must take
its tokens from the fleet's chain in Redis: a command that refreshed from the
file on its own (``ls``, ``whoami``) would break the chain the mounts share.
The fleet's name (the default: one per Box account and API) is derived here too.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time

import httpx
import redis

from boxzipfs.client.auth import Auth, RefreshTokenAuth, auth_from_env
from boxzipfs.client.fleet_auth import FleetRefreshTokenAuth
from boxzipfs.client.pacing import ApiPacer


def default_fleet(api_url: str, environ: dict[str, str]) -> str:
    """One fleet per Box account: a digest of the API and the login's identity (no secret)."""
    parts = [api_url, *(environ.get(k, "") for k in ("BOX_CLIENT_ID", "BOX_SUBJECT_TYPE", "BOX_SUBJECT_ID"))]
    # A JWT app and an As-User subject are other identities (appended only when set, so the
    # fleets of existing setups keep their names).
    parts += [f"{k}={environ[k]}" for k in ("BOX_JWT_CONFIG", "BOX_AS_USER") if environ.get(k)]
    identity = "|".join(parts)
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def fleet_name(chosen: str | None, api_url: str, auth_env: dict[str, str]) -> str:
    """The fleet a mount joins: the one chosen, else the account's own."""
    return chosen or default_fleet(api_url, auth_env)


def shared_redis(url: str, stack: contextlib.ExitStack) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    stack.callback(client.close)
    return client


def open_auth(
    http: httpx.Client,
    api_url: str,
    auth_env: dict[str, str],
    stack: contextlib.ExitStack,
    pacer: ApiPacer | None = None,
    redis_url: str | None = None,
    fleet: str | None = None,
) -> Auth:
    """The auth ``auth_env`` configures; with a Redis, a refresh-token login's chain is the
    fleet's (its file only seeds it)."""
    auth = auth_from_env(http, api_url, auth_env, pacer)
    if redis_url and isinstance(auth, RefreshTokenAuth):
        chain = fleet_name(fleet, api_url, auth_env)
        auth = FleetRefreshTokenAuth.sharing(auth, shared_redis(redis_url, stack), chain)
    return auth


class CredentialState:
    """The credentials' last known state, from every API call's outcome (the BoxClient that
    holds it reports each); what a readiness probe answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the fields below
        self.valid: bool | None = None
        self.reason = "not checked yet"
        self.checked = 0.0  # monotonic time of the last outcome

    def record(self, valid: bool, reason: str = "ok") -> None:
        with self._lock:
            self.valid, self.reason, self.checked = valid, reason, time.monotonic()

    def snapshot(self) -> tuple[bool | None, str, float]:
        with self._lock:
            return self.valid, self.reason, self.checked

"""Where access tokens come from: a static token, a rotating refresh token, or
client credentials.

Each ``Auth`` gives the current token and, after a 401, a fresh one. Rotated
refresh tokens are written atomically (mode 0600) before the new access token is
used, so a crash never loses the only valid refresh token. No secret is kept in
a repr or an exception message.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import httpx

from boxzipfs.errors import AuthError, NetworkError

EXPIRY_MARGIN = 30.0


class Auth(Protocol):
    """A source of bearer tokens."""

    def token(self) -> str:
        """The access token to send now."""
        ...

    def refresh(self, rejected: str) -> str:
        """A new token after ``rejected`` got a 401; raises AuthError if there is none."""
        ...


class StaticTokenAuth:
    """A fixed access token (developer token, ``BOX_ACCESS_TOKEN`` or a token file)."""

    def __init__(self, token: str) -> None:
        if not token.strip():
            raise AuthError("the access token is empty")
        self._token = token.strip()

    @classmethod
    def from_file(cls, path: Path) -> StaticTokenAuth:
        try:
            return cls(path.read_text())
        except OSError as exc:
            raise AuthError(f"cannot read the token file {path}: {exc.strerror}") from None

    def token(self) -> str:
        return self._token

    def refresh(self, rejected: str) -> str:
        raise AuthError("Box rejected the access token (401) and a static token cannot be refreshed")

    def __repr__(self) -> str:
        return "StaticTokenAuth(<token hidden>)"


def write_secret_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class _OAuthAuth:
    """Shared token-endpoint logic: cache the access token until shortly before expiry."""

    def __init__(self, http: httpx.Client, token_url: str) -> None:
        self._http = http
        self._token_url = token_url
        self._lock = threading.Lock()
        self._access: str | None = None
        self._expires = 0.0

    def _form(self) -> dict[str, str]:
        raise NotImplementedError

    def _accept(self, answer: dict[str, Any]) -> None:
        """Hook run with each successful answer before its token is used."""

    def _fetch(self) -> str:
        try:
            response = self._http.post(self._token_url, data=self._form())
        except httpx.TransportError as exc:
            raise NetworkError(f"token endpoint unreachable: {type(exc).__name__}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code != 200 or "access_token" not in answer:
            error = answer.get("error", "") if isinstance(answer, dict) else ""
            description = answer.get("error_description", "") if isinstance(answer, dict) else ""
            raise AuthError(
                f"token endpoint answered {response.status_code} {error}: {description}".rstrip(": ")
            )
        self._accept(answer)
        self._access = str(answer["access_token"])
        self._expires = time.monotonic() + float(answer.get("expires_in", 3600)) - EXPIRY_MARGIN
        return self._access

    def token(self) -> str:
        with self._lock:
            if self._access is None or time.monotonic() >= self._expires:
                return self._fetch()
            return self._access

    def refresh(self, rejected: str) -> str:
        with self._lock:
            if self._access is not None and self._access != rejected:
                return self._access  # another thread already refreshed
            return self._fetch()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<secrets hidden>)"


class RefreshTokenAuth(_OAuthAuth):
    """OAuth refresh-token grant; the rotating refresh token lives in ``store`` (JSON, 0600)."""

    def __init__(
        self, http: httpx.Client, token_url: str, store: Path, client_id: str, client_secret: str
    ) -> None:
        super().__init__(http, token_url)
        self._store = store
        self._client_id = client_id
        self._client_secret = client_secret

    def _refresh_token(self) -> str:
        try:
            data = json.loads(self._store.read_text())
            return str(data["refresh_token"])
        except (OSError, ValueError, KeyError, TypeError):
            raise AuthError(f"no refresh token in {self._store}") from None

    def _form(self) -> dict[str, str]:
        return {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token(),
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }

    def _accept(self, answer: dict[str, Any]) -> None:
        rotated = answer.get("refresh_token")
        if rotated:
            write_secret_file(self._store, json.dumps({"refresh_token": rotated}) + "\n")


class ClientCredentialsAuth(_OAuthAuth):
    """OAuth client-credentials grant for an enterprise or a user."""

    def __init__(
        self,
        http: httpx.Client,
        token_url: str,
        client_id: str,
        client_secret: str,
        subject_type: str,
        subject_id: str,
    ) -> None:
        super().__init__(http, token_url)
        if subject_type not in ("enterprise", "user"):
            raise AuthError("box_subject_type must be 'enterprise' or 'user'")
        self._fields = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "box_subject_type": subject_type,
            "box_subject_id": subject_id,
        }

    def _form(self) -> dict[str, str]:
        return dict(self._fields)

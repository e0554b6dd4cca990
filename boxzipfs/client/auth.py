"""Where access tokens come from: a static token, a rotating refresh token, or
client credentials.

Each ``Auth`` gives the current token and, after a 401, a fresh one. Rotated
refresh tokens are written atomically (mode 0600) before the new access token is
used, so a crash never loses the only valid refresh token. No secret is kept in
a repr or an exception message.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import httpx

from boxzipfs.atomicfile import atomic_write
from boxzipfs.client.pacing import ApiPacer
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

    def token(self) -> str:
        return self._token

    def refresh(self, rejected: str) -> str:
        raise AuthError("Box rejected the access token (401) and a static token cannot be refreshed")

    def __repr__(self) -> str:
        return "StaticTokenAuth(<token hidden>)"


class TokenFileAuth:
    """A static token kept in a file (``BOX_TOKEN_FILE``), read again whenever the file changes
    and after a 401, so a rotated developer token (they last 60 minutes) is picked up without
    a remount. A rejected token's error names the file, never the token."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()  # guards _token and _version
        self._token = ""
        self._version: tuple[int, int] | None = None
        self._read()

    def _read(self) -> str:
        """The file's token, read again if the file changed (lock held)."""
        try:
            st = self._path.stat()
            version = (st.st_ino, st.st_mtime_ns)
            if version != self._version:
                token = self._path.read_text().strip()
                if not token:
                    raise AuthError(f"the token file {self._path} is empty")
                self._token, self._version = token, version
        except OSError as exc:
            raise AuthError(f"cannot read the token file {self._path}: {exc.strerror}") from None
        return self._token

    def token(self) -> str:
        with self._lock:
            return self._read()

    def refresh(self, rejected: str) -> str:
        with self._lock:
            self._version = None  # read it again whatever its time says
            token = self._read()
        if token == rejected:
            raise AuthError(
                f"Box rejected the token in {self._path} (401); write a new one there: "
                "it is read again at the next call"
            )
        return token

    def __repr__(self) -> str:
        return f"TokenFileAuth({self._path}, <token hidden>)"


class TokenRefused(AuthError):
    """The token endpoint refused a grant; ``date`` is its Date header (Box's clock)."""

    def __init__(self, message: str, date: str | None) -> None:
        super().__init__(message)
        self.date = date


def token_request(http: httpx.Client, token_url: str, form: dict[str, str]) -> dict[str, Any]:
    """POST a grant to Box's token endpoint; its answer, or AuthError with Box's error code and
    description (never the form: it holds secrets)."""
    try:
        response = http.post(token_url, data=form)
    except httpx.TransportError as exc:
        raise NetworkError(f"token endpoint unreachable: {type(exc).__name__}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200 or not isinstance(answer, dict) or "access_token" not in answer:
        error = answer.get("error", "") if isinstance(answer, dict) else ""
        description = answer.get("error_description", "") if isinstance(answer, dict) else ""
        raise TokenRefused(
            f"token endpoint answered {response.status_code} {error}: {description}".rstrip(": "),
            response.headers.get("date"),
        )
    return answer


class _OAuthAuth:
    """Shared token-endpoint logic: cache the access token until shortly before expiry."""

    def __init__(self, http: httpx.Client, token_url: str) -> None:
        self._http = http
        self._token_url = token_url
        self.pacer: ApiPacer | None = None  # token calls are API calls: paced and counted too
        # Guards _access and _expires: one token fetch at a time.
        self._lock = threading.Lock()
        self._access: str | None = None
        self._expires = 0.0
        self.expires_at: float | None = None  # wall time the current access token expires

    def _form(self) -> dict[str, str]:
        raise NotImplementedError

    def _accept(self, answer: dict[str, Any]) -> None:
        """Hook run with each successful answer before its token is used."""

    def _fetch(self) -> str:
        if self.pacer is not None:
            self.pacer.wait("oauth2_token")
        answer = token_request(self._http, self._token_url, self._form())
        self._accept(answer)
        self._access = str(answer["access_token"])
        lifetime = float(answer.get("expires_in", 3600))
        self._expires = time.monotonic() + lifetime - EXPIRY_MARGIN
        self.expires_at = time.time() + lifetime
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
            atomic_write(self._store, (json.dumps({"refresh_token": rotated}) + "\n").encode(), 0o600)


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


def _secret(env: dict[str, str]) -> str:
    if env.get("BOX_CLIENT_SECRET"):
        return env["BOX_CLIENT_SECRET"]
    path = env.get("BOX_CLIENT_SECRET_FILE")
    if not path:
        return ""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise AuthError(f"cannot read the client secret file {path}: {exc.strerror}") from None


def auth_from_env(
    http: httpx.Client, api_url: str, env: dict[str, str], pacer: ApiPacer | None = None
) -> Auth:
    """Pick the auth the environment configures, most specific first.

    ``BOX_ACCESS_TOKEN`` or ``BOX_TOKEN_FILE``: a static token. ``BOX_JWT_CONFIG``: a JWT
    app (its enterprise, or the user of ``BOX_SUBJECT_TYPE=user`` + ``BOX_SUBJECT_ID``).
    ``BOX_CLIENT_ID`` + ``BOX_CLIENT_SECRET`` (or ``BOX_CLIENT_SECRET_FILE``) with
    ``BOX_REFRESH_TOKEN_STORE``: the refresh-token grant, rotating tokens in that file (what
    ``boxzipfs login`` sets up); with ``BOX_SUBJECT_TYPE`` + ``BOX_SUBJECT_ID`` instead:
    client credentials. Token calls take their place in ``pacer``'s budget like any other.
    """
    from boxzipfs.client.jwt_auth import JWTAuth, load_app_config

    token_url = f"{api_url.rstrip('/')}/oauth2/token"
    if env.get("BOX_ACCESS_TOKEN"):
        return StaticTokenAuth(env["BOX_ACCESS_TOKEN"])
    if env.get("BOX_TOKEN_FILE"):
        return TokenFileAuth(Path(env["BOX_TOKEN_FILE"]))
    auth: _OAuthAuth
    if env.get("BOX_JWT_CONFIG"):
        app = load_app_config(Path(env["BOX_JWT_CONFIG"]))
        auth = JWTAuth(
            http, token_url, app, env.get("BOX_SUBJECT_TYPE") or "enterprise", env.get("BOX_SUBJECT_ID")
        )
        auth.pacer = pacer
        return auth
    client_id = env.get("BOX_CLIENT_ID", "")
    secret = _secret(env) if client_id else ""
    if client_id and secret and env.get("BOX_REFRESH_TOKEN_STORE"):
        auth = RefreshTokenAuth(http, token_url, Path(env["BOX_REFRESH_TOKEN_STORE"]), client_id, secret)
    elif client_id and secret and env.get("BOX_SUBJECT_TYPE") and env.get("BOX_SUBJECT_ID"):
        auth = ClientCredentialsAuth(
            http, token_url, client_id, secret, env["BOX_SUBJECT_TYPE"], env["BOX_SUBJECT_ID"]
        )
    else:
        raise AuthError(
            "no Box credentials: run `boxzipfs login`, or set BOX_JWT_CONFIG, BOX_ACCESS_TOKEN or "
            "BOX_TOKEN_FILE, or BOX_CLIENT_ID and BOX_CLIENT_SECRET with BOX_REFRESH_TOKEN_STORE or "
            "BOX_SUBJECT_TYPE/BOX_SUBJECT_ID (or use --local DIR)"
        )
    auth.pacer = pacer
    return auth


def describe_auth(env: dict[str, str]) -> tuple[str, str]:
    """The auth method ``auth_from_env`` picks for ``env`` and where its secret comes from."""
    if env.get("BOX_ACCESS_TOKEN"):
        return "access token", "BOX_ACCESS_TOKEN"
    if env.get("BOX_TOKEN_FILE"):
        return "access token", f"token file {env['BOX_TOKEN_FILE']}"
    if env.get("BOX_JWT_CONFIG"):
        subject = "user " + env["BOX_SUBJECT_ID"] if env.get("BOX_SUBJECT_TYPE") == "user" else "enterprise"
        return f"JWT ({subject})", f"app config {env['BOX_JWT_CONFIG']}"
    if env.get("BOX_REFRESH_TOKEN_STORE"):
        return "OAuth 2.0 refresh token", f"token store {env['BOX_REFRESH_TOKEN_STORE']}"
    return f"client credentials ({env.get('BOX_SUBJECT_TYPE', '')})", "BOX_CLIENT_ID and its secret"

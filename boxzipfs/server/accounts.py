"""Users, tokens and access rules of the local server.

Static tokens never expire. Tokens issued by ``/oauth2/token`` expire after
``token_ttl``; refresh tokens are single-use and rotate. An optional users file
(JSON, re-read when it changes) adds users, their tokens, per-user deny rules
and OAuth clients::

    {"users": [{"id": "1001", "name": "alice", "login": "alice@example.com",
                "enterprise_id": "500", "role": "user", "tokens": ["..."],
                "refresh_tokens": ["..."], "deny": ["private", "*.key"]}],
     "clients": [{"client_id": "...", "client_secret": "...",
                  "user_id": "1001", "enterprise_id": "500",
                  "redirect_uris": ["http://127.0.0.1:53700/callback"],
                  "jwt_public_keys": {"key-id": "-----BEGIN PUBLIC KEY-----..."}}]}

A deny rule is a glob matched against an item's path relative to the served
folder and against each of its parent folders. A user whose ``role`` is
``admin`` or ``service`` (a JWT or client-credentials app's service account) may
act for the other users of its enterprise with ``As-User``.

The grants: ``refresh_token``, ``client_credentials``, ``authorization_code``
(codes from the authorize page, single use, 30 seconds) and Box's JWT bearer
grant (RS256, checked against the client's registered public keys, ``aud`` the
token URL, ``exp`` at most 60 seconds ahead, a ``jti`` never seen before).
"""

from __future__ import annotations

import fnmatch
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import jwt

CODE_SECONDS = 30.0  # Box's authorization codes live 30 seconds
JWT_MAX_AHEAD = 60  # an assertion's exp may be at most this far ahead
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACTING_ROLES = ("admin", "service")
# exp is checked on this server's own clock (which tests may set ahead), not PyJWT's; nor are iat
# and nbf, which Box does not require
_JWT_CHECKS: Any = {
    "require": ["exp", "iss", "sub", "aud", "jti"],
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
}


class OAuthError(Exception):
    """An OAuth2 error answer: ``error`` and ``error_description``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class User:
    id: str
    name: str
    deny: tuple[str, ...] = ()
    login: str = ""
    enterprise_id: str = ""
    role: str = "user"  # "admin" and "service" may act for their enterprise's users

    def may_act_for(self, other: User) -> bool:
        """Box's As-User rule: an admin or service account, for a user of its own enterprise."""
        same = bool(self.enterprise_id) and self.enterprise_id == other.enterprise_id
        return self.role in ACTING_ROLES and same

    def may_read(self, rel: str) -> bool:
        """False if a deny rule matches the path or one of its parents."""
        if not self.deny or not rel:
            return True
        path = PurePosixPath(rel)
        candidates = [path.as_posix(), *(p.as_posix() for p in path.parents if p.as_posix() != ".")]
        return not any(fnmatch.fnmatchcase(c, rule) for c in candidates for rule in self.deny)


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str = field(repr=False)
    user_id: str
    enterprise_id: str
    redirect_uris: tuple[str, ...] = ()
    jwt_public_keys: tuple[tuple[str, str], ...] = ()  # (key ID, PEM)


@dataclass(frozen=True)
class _Code:
    client_id: str
    redirect_uri: str
    user_id: str
    expires: float


DEFAULT_USER = User("1", "default", login="default@example.com")


class Accounts:
    """Who a bearer token belongs to, and the token endpoint's grants."""

    def __init__(
        self,
        static_tokens: list[str],
        users_file: Path | None = None,
        token_ttl: float = 3600.0,
        refresh_tokens: list[str] | None = None,
        clock_offset: float = 0.0,
    ) -> None:
        self.token_ttl = token_ttl
        self.clock_offset = clock_offset  # this server's clock, ahead of the machine's (JWT checks)
        self._users_file = users_file
        self._users_mtime: float | None = None
        # Guards issued tokens, codes and refresh tokens.
        self._lock = threading.Lock()
        self._users: dict[str, User] = {DEFAULT_USER.id: DEFAULT_USER}
        self._clients: dict[str, Client] = {}
        self._static: dict[str, str] = dict.fromkeys(static_tokens, DEFAULT_USER.id)
        self._issued: dict[str, tuple[str, float]] = {}
        self._refresh: dict[str, str] = dict.fromkeys(refresh_tokens or [], DEFAULT_USER.id)
        self._file_tokens: dict[str, str] = {}
        self._codes: dict[str, _Code] = {}
        self._jtis: dict[str, float] = {}  # assertion IDs seen, until their exp
        self._reload()

    def _reload(self) -> None:
        """Re-read the users file if it changed, so access rules can change mid-download."""
        if self._users_file is None:
            return
        mtime = self._users_file.stat().st_mtime_ns
        if mtime == self._users_mtime:
            return
        data: dict[str, Any] = json.loads(self._users_file.read_text())
        users = {DEFAULT_USER.id: DEFAULT_USER}
        tokens: dict[str, str] = {}
        for raw in data.get("users", []):
            user = User(
                str(raw["id"]),
                str(raw.get("name", raw["id"])),
                tuple(raw.get("deny", ())),
                str(raw.get("login", "")),
                str(raw.get("enterprise_id", "")),
                str(raw.get("role", "user")),
            )
            users[user.id] = user
            tokens.update(dict.fromkeys(raw.get("tokens", []), user.id))
            if self._users_mtime is None:
                self._refresh.update(dict.fromkeys(raw.get("refresh_tokens", []), user.id))
        clients = {
            str(raw["client_id"]): Client(
                str(raw["client_id"]),
                str(raw["client_secret"]),
                str(raw.get("user_id", DEFAULT_USER.id)),
                str(raw.get("enterprise_id", "")),
                tuple(str(uri) for uri in raw.get("redirect_uris", [])),
                tuple((str(k), str(v)) for k, v in dict(raw.get("jwt_public_keys", {})).items()),
            )
            for raw in data.get("clients", [])
        }
        self._users, self._file_tokens, self._clients = users, tokens, clients
        self._users_mtime = mtime

    def clock(self) -> float:
        """The server's time: its JWT checks and its Date headers follow it."""
        return time.time() + self.clock_offset

    def user(self, user_id: str) -> User:
        with self._lock:
            self._reload()
            return self._users[user_id]

    def acting(self, caller: User, as_user: str) -> User | None:
        """The user ``caller`` acts for with ``As-User``, or None if it may not."""
        with self._lock:
            self._reload()
            target = self._users.get(as_user.strip())
        if target is None or not caller.may_act_for(target):
            return None
        return target

    def authorizing(self, client_id: str, redirect_uri: str) -> tuple[Client, User]:
        """The client and the user an authorize page asks consent for; OAuthError if the
        client is unknown or the redirect URI is not one it registered (never redirected to)."""
        with self._lock:
            self._reload()
            client = self._clients.get(client_id)
            if client is None:
                raise OAuthError("invalid_client", "Unknown client_id")
            if redirect_uri not in client.redirect_uris:
                raise OAuthError("redirect_uri_mismatch", "The redirect_uri is not registered for this app")
            return client, self._users.get(client.user_id, DEFAULT_USER)

    def grant_code(self, client_id: str, redirect_uri: str) -> str:
        """A single-use authorization code for the client's user, valid CODE_SECONDS."""
        client, user = self.authorizing(client_id, redirect_uri)
        code = secrets.token_urlsafe(24)
        with self._lock:
            now = time.monotonic()
            self._codes = {k: c for k, c in self._codes.items() if c.expires > now}
            self._codes[code] = _Code(client.client_id, redirect_uri, user.id, now + CODE_SECONDS)
        return code

    def authenticate(self, authorization: str | None) -> User | None:
        """The user of a ``Bearer`` header, or None if it is missing, unknown or expired."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        token = authorization[7:].strip()
        with self._lock:
            self._reload()
            user_id = self._static.get(token) or self._file_tokens.get(token)
            if user_id is None and token in self._issued:
                user_id, expires = self._issued[token]
                if time.monotonic() >= expires:
                    del self._issued[token]
                    return None
            return self._users.get(user_id) if user_id else None

    def _issue(self, user_id: str, with_refresh: bool) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        self._issued[access] = (user_id, time.monotonic() + self.token_ttl)
        answer: dict[str, Any] = {
            "access_token": access,
            "expires_in": int(self.token_ttl),
            "token_type": "bearer",
            "restricted_to": [],
        }
        if with_refresh:
            refresh = secrets.token_urlsafe(32)
            self._refresh[refresh] = user_id
            answer["refresh_token"] = refresh
        return answer

    def _jwt_subject(self, client: Client, assertion: str, audience: str) -> str:
        """The user a JWT assertion's subject names (lock held); OAuthError as Box words it."""
        try:
            kid = jwt.get_unverified_header(assertion).get("kid")
            keys = dict(client.jwt_public_keys)
            if kid not in keys:
                raise OAuthError("invalid_grant", "Please check the 'kid' header: no such public key")
            claims = jwt.decode(
                assertion,
                keys[kid],
                algorithms=["RS256"],
                audience=audience,
                issuer=client.client_id,
                options=_JWT_CHECKS,
            )
        except jwt.InvalidTokenError as exc:
            raise OAuthError("invalid_grant", f"The assertion is not valid: {type(exc).__name__}") from None
        now = self.clock()
        if float(claims["exp"]) <= now:
            raise OAuthError(
                "invalid_grant",
                "Current date/time MUST be before the expiration date/time listed in the 'exp' claim",
            )
        if float(claims["exp"]) > now + JWT_MAX_AHEAD:
            raise OAuthError("invalid_grant", "Please check the 'exp' claim: at most 60 seconds ahead")
        self._jtis = {j: exp for j, exp in self._jtis.items() if exp > now}
        if str(claims["jti"]) in self._jtis:
            raise OAuthError("invalid_grant", "Please check the 'jti' claim: it was used before")
        self._jtis[str(claims["jti"])] = float(claims["exp"])
        subject, kind = str(claims["sub"]), claims.get("box_sub_type")
        if kind == "enterprise" and subject == client.enterprise_id:
            return client.user_id  # the app's service account
        user = self._users.get(subject)
        if kind == "user" and user is not None and user.enterprise_id == client.enterprise_id:
            return user.id
        raise OAuthError("invalid_grant", "Please check the 'sub' claim: not this app's enterprise or user")

    def _client(self, client_id: str | None, client_secret: str | None) -> Client:
        client = self._clients.get(client_id or "")
        given = (client_secret or "").encode("utf-8", "surrogateescape")  # any bytes: 400, never 500
        if client is None or not hmac.compare_digest(client.client_secret.encode(), given):
            raise OAuthError("invalid_client", "The client credentials are not valid")
        return client

    def token(self, form: dict[str, str], audience: str = "") -> dict[str, Any]:
        """Answer a ``/oauth2/token`` form (``audience``: this endpoint's URL), or raise OAuthError."""
        grant = form.get("grant_type")
        with self._lock:
            self._reload()
            if grant == "authorization_code":
                client = self._client(form.get("client_id"), form.get("client_secret"))
                code = self._codes.pop(form.get("code", ""), None)
                if (
                    code is None
                    or code.expires <= time.monotonic()
                    or code.client_id != client.client_id
                    or form.get("redirect_uri", code.redirect_uri) != code.redirect_uri
                ):
                    raise OAuthError("invalid_grant", "The authorization code is not valid")
                return self._issue(code.user_id, with_refresh=True)
            if grant == JWT_GRANT:
                client = self._client(form.get("client_id"), form.get("client_secret"))
                return self._issue(self._jwt_subject(client, form.get("assertion", ""), audience), False)
            if grant == "refresh_token":
                if self._clients:
                    self._client(form.get("client_id"), form.get("client_secret"))
                user_id = self._refresh.pop(form.get("refresh_token", ""), None)
                if user_id is None:
                    raise OAuthError("invalid_grant", "Invalid refresh token")
                return self._issue(user_id, with_refresh=True)
            if grant == "client_credentials":
                client = self._client(form.get("client_id"), form.get("client_secret"))
                subject_type, subject_id = form.get("box_subject_type"), form.get("box_subject_id")
                if subject_type == "enterprise" and subject_id == client.enterprise_id:
                    return self._issue(client.user_id, with_refresh=False)
                if subject_type == "user" and subject_id in self._users:
                    return self._issue(subject_id, with_refresh=False)
                raise OAuthError("invalid_grant", "Grant credentials are invalid")
        raise OAuthError("unsupported_grant_type", f"Grant type {grant!r} is not supported")

"""Users, tokens and access rules of the local server.

Static tokens never expire. Tokens issued by ``/oauth2/token`` expire after
``token_ttl``; refresh tokens are single-use and rotate. An optional users file
(JSON, re-read when it changes) adds users, their tokens, per-user deny rules
and OAuth clients::

    {"users": [{"id": "1001", "name": "alice", "tokens": ["..."],
                "refresh_tokens": ["..."], "deny": ["private", "*.key"]}],
     "clients": [{"client_id": "...", "client_secret": "...",
                  "user_id": "1001", "enterprise_id": "500"}]}

A deny rule is a glob matched against an item's path relative to the served
folder and against each of its parent folders.
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


DEFAULT_USER = User("1", "default")


class Accounts:
    """Who a bearer token belongs to, and the token endpoint's grants."""

    def __init__(
        self,
        static_tokens: list[str],
        users_file: Path | None = None,
        token_ttl: float = 3600.0,
        refresh_tokens: list[str] | None = None,
    ) -> None:
        self.token_ttl = token_ttl
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
            user = User(str(raw["id"]), str(raw.get("name", raw["id"])), tuple(raw.get("deny", ())))
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
            )
            for raw in data.get("clients", [])
        }
        self._users, self._file_tokens, self._clients = users, tokens, clients
        self._users_mtime = mtime

    def user(self, user_id: str) -> User:
        with self._lock:
            self._reload()
            return self._users[user_id]

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

    def _client(self, client_id: str | None, client_secret: str | None) -> Client:
        client = self._clients.get(client_id or "")
        given = (client_secret or "").encode("utf-8", "surrogateescape")  # any bytes: 400, never 500
        if client is None or not hmac.compare_digest(client.client_secret.encode(), given):
            raise OAuthError("invalid_client", "The client credentials are not valid")
        return client

    def token(self, form: dict[str, str]) -> dict[str, Any]:
        """Answer a ``/oauth2/token`` form, or raise OAuthError."""
        grant = form.get("grant_type")
        with self._lock:
            self._reload()
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

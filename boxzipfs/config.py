"""Settings: defaults < config file (TOML) < environment (auth) < command-line flags.

The config file lives at ``$XDG_CONFIG_HOME/boxzipfs/config.toml`` unless
``--config`` names another::

    api_url = "https://api.box.com"
    # local = "/srv/box"        # or: serve this folder on the embedded server

    [auth]                      # or BOX_* environment variables, which win
    token_file = "~/.config/boxzipfs/token"        # a developer or static token
    client_id = "..."
    client_secret_file = "~/.config/boxzipfs/client-secret"
    refresh_token_store = "~/.local/state/boxzipfs/refresh.json"   # refresh grant
    subject_type = "enterprise"                     # or client credentials
    subject_id = "12345"

    [mount]
    cache_size = "10G"
    buffer_size = "1M"
    max_downloads = 5
    reuse_seconds = 120
    queue_deadline = 600
    stall_timeout = 60
    abandon_seconds = 10
    list_ttl = 60
    resume_attempts = 3
    wait_for_size = false

    [requests.reports]          # declared requests, like --request
    items = ["folder:123", "file:456"]
    download_file_name = "Reports"
    allow_skips = false
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from boxzipfs.client.box import DEFAULT_API_URL
from boxzipfs.errors import BoxZipError
from boxzipfs.models import RequestSpec, ZipItem, ZipRequest, parse_request_spec

SECRET_FIELDS = frozenset({"access_token", "client_secret"})
AUTH_ENV = {
    "access_token": "BOX_ACCESS_TOKEN",
    "token_file": "BOX_TOKEN_FILE",
    "client_id": "BOX_CLIENT_ID",
    "client_secret": "BOX_CLIENT_SECRET",
    "client_secret_file": "BOX_CLIENT_SECRET_FILE",
    "refresh_token_store": "BOX_REFRESH_TOKEN_STORE",
    "subject_type": "BOX_SUBJECT_TYPE",
    "subject_id": "BOX_SUBJECT_ID",
}


class ConfigError(BoxZipError):
    """The config file is missing, unreadable or has bad values."""


def parse_size(text: str | int) -> int:
    """``123``, ``64K``, ``16M``, ``2G``, ``1T`` (binary units) as bytes."""
    if isinstance(text, int):
        return text
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    try:
        if value and value[-1] in units:
            return int(float(value[:-1]) * units[value[-1]])
        return int(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a size like 512M or 10G") from None


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "boxzipfs" / "config.toml"


@dataclass(frozen=True)
class Settings:
    """Everything a command may need, after all sources are merged."""

    api_url: str = DEFAULT_API_URL
    local: str | None = None
    access_token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    client_secret_file: str | None = None
    refresh_token_store: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    state_dir: str | None = None
    cache_dir: str | None = None
    cache_size: int = 10 << 30
    buffer_size: int = 1 << 20
    max_downloads: int = 5
    reuse_seconds: float = 120.0
    queue_deadline: float = 600.0
    stall_timeout: float = 60.0
    abandon_seconds: float = 10.0
    list_ttl: float = 60.0
    resume_attempts: int = 3
    wait_for_size: bool = False
    redis_url: str | None = field(default=None, repr=False)  # may carry a password
    fleet: str | None = None
    user_concurrency: int = 5
    enterprise_concurrency: int = 10
    lease_seconds: float = 30.0
    metrics_addr: str | None = None
    requests: dict[str, RequestSpec] = field(default_factory=dict)
    source: str = "defaults"

    def auth_env(self, environ: dict[str, str]) -> dict[str, str]:
        """Auth settings as BOX_* variables; the real environment wins over the file."""
        merged = {AUTH_ENV[k]: str(v) for k in AUTH_ENV if (v := getattr(self, k)) is not None}
        merged.update({k: v for k, v in environ.items() if k in AUTH_ENV.values() and v})
        for key in ("BOX_TOKEN_FILE", "BOX_CLIENT_SECRET_FILE", "BOX_REFRESH_TOKEN_STORE"):
            if key in merged:
                merged[key] = str(Path(merged[key]).expanduser())
        return merged

    def override(self, **values: Any) -> Settings:
        """Apply command-line flags (None means: not given)."""
        given = {k: v for k, v in values.items() if v is not None}
        return replace(self, **given)

    def shown(self) -> dict[str, Any]:
        """The effective settings for ``config show``, secrets masked."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in SECRET_FIELDS and value:
                value = "***"
            elif item.name == "redis_url" and value:
                value = redact_url(value)
            elif item.name == "requests":
                value = {name: spec.to_json() for name, spec in value.items()}
            out[item.name] = value
        return out


_MOUNT_KEYS: dict[str, Callable[[Any], Any]] = {
    "state_dir": str,
    "cache_dir": str,
    "cache_size": parse_size,
    "buffer_size": parse_size,
    "max_downloads": int,
    "reuse_seconds": float,
    "queue_deadline": float,
    "stall_timeout": float,
    "abandon_seconds": float,
    "list_ttl": float,
    "resume_attempts": int,
    "wait_for_size": bool,
    "redis_url": str,
    "fleet": str,
    "user_concurrency": int,
    "enterprise_concurrency": int,
    "lease_seconds": float,
    "metrics_addr": str,
}


def redact_url(url: str) -> str:
    """A URL with any password (in its user part or a ``password=`` query) replaced by ***."""
    parts = urlsplit(url)
    if parts.password is not None:
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        parts = parts._replace(netloc=f"{user}:***@{host}{port}")
    query = [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def url_has_password(url: str) -> bool:
    parts = urlsplit(url)
    return parts.password is not None or any(k == "password" for k, _ in parse_qsl(parts.query))


def _request_from_toml(name: str, table: dict[str, Any]) -> RequestSpec:
    items = table.get("items")
    if isinstance(items, list) and all(isinstance(i, str) for i in items):
        body = dict(table)
        body["items"] = [ZipItem.parse(i).to_json() for i in items]
        table = body
    return parse_request_spec(json.dumps(table).encode())


def load_settings(path: Path | None, environ: dict[str, str] | None = None) -> Settings:
    """Settings from the config file at ``path`` (default location if None; absent is fine there)."""
    explicit = path is not None
    path = path or default_config_path()
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {path} does not exist")
        return Settings()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    values: dict[str, Any] = {"source": str(path)}
    unknown = set(data) - {"api_url", "local", "auth", "mount", "requests"}
    if unknown:
        raise ConfigError(f"{path}: unknown settings {', '.join(sorted(unknown))}")
    for key in ("api_url", "local"):
        if key in data:
            values[key] = str(data[key])
    auth = data.get("auth", {})
    for key, value in auth.items():
        if key not in AUTH_ENV:
            raise ConfigError(f"{path}: unknown [auth] setting {key!r}")
        values[key] = str(value)
    for key, value in data.get("mount", {}).items():
        if key not in _MOUNT_KEYS:
            raise ConfigError(f"{path}: unknown [mount] setting {key!r}")
        try:
            values[key] = _MOUNT_KEYS[key](value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: [mount] {key}: {exc}") from None
    requests = {}
    for name, table in data.get("requests", {}).items():
        try:
            requests[name] = _request_from_toml(name, table)
        except BoxZipError as exc:
            raise ConfigError(f"{path}: [requests.{name}]: {exc}") from None
    values["requests"] = requests
    return Settings(**values)


def request_from_items(
    items: list[str], name: str | None, allow_skips: bool, wait: bool | None
) -> RequestSpec:
    """A definition from command-line items like ``folder:123``."""
    parsed = tuple(ZipItem.parse(item) for item in items)
    return parse_request_spec(RequestSpec(ZipRequest(parsed, name), allow_skips, wait).dumps())

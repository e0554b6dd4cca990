"""Settings: defaults < config file (TOML) < environment < command-line flags.

Every option, its default and its forms are declared once, in :mod:`boxzipfs.options`.

The config file lives at ``$XDG_CONFIG_HOME/boxzipfs/config.toml`` unless
``--config`` names another::

    api_url = "https://api.box.com"
    # local = "/srv/box"        # or: serve this folder on the embedded server

    [auth]                      # or BOX_* environment variables, which win over the file
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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from boxzipfs.client.wire import Wire
from boxzipfs.errors import BoxZipError
from boxzipfs.models import RequestSpec, ZipItem, ZipRequest, parse_request_spec
from boxzipfs.options import (
    BY_NAME,
    OPTIONS,
    SECTIONS,
    OptionError,
    default,
    in_section,
    parse_size,
    with_env,
)

__all__ = ["ConfigError", "Settings", "load_settings", "parse_size"]

SECRET_FIELDS = frozenset(o.name for o in OPTIONS if o.secret)
AUTH_ENV = {o.name: o.env for o in OPTIONS if o.section == "auth" and o.env}


class ConfigError(BoxZipError):
    """The config file is missing, unreadable or has bad values."""


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "boxzipfs" / "config.toml"


@dataclass(frozen=True)
class Settings:
    """Everything a command may need, after all sources are merged.

    One field per row of :data:`boxzipfs.options.OPTIONS` (a test holds them equal), its
    default taken from there; plus the declared requests and where the settings came from.
    """

    api_url: str = default("api_url")
    ca_file: str | None = default("ca_file")
    proxy: str | None = field(default=default("proxy"), repr=False)  # may carry a password
    local: str | None = default("local")
    access_token: str | None = field(default=default("access_token"), repr=False)
    token_file: str | None = default("token_file")
    client_id: str | None = default("client_id")
    client_secret: str | None = field(default=default("client_secret"), repr=False)
    client_secret_file: str | None = default("client_secret_file")
    refresh_token_store: str | None = default("refresh_token_store")
    subject_type: str | None = default("subject_type")
    subject_id: str | None = default("subject_id")
    jwt_config: str | None = default("jwt_config")
    as_user: str | None = default("as_user")
    state_dir: str | None = default("state_dir")
    cache_dir: str | None = default("cache_dir")
    cache_size: int = default("cache_size")
    buffer_size: int = default("buffer_size")
    max_downloads: int = default("max_downloads")
    api_calls_per_minute: int = default("api_calls_per_minute")
    reuse_seconds: float = default("reuse_seconds")
    queue_deadline: float = default("queue_deadline")
    stall_timeout: float = default("stall_timeout")
    abandon_seconds: float = default("abandon_seconds")
    list_ttl: float = default("list_ttl")
    resume_attempts: int = default("resume_attempts")
    prefetch_after: int = default("prefetch_after")
    prefetch_threshold: int = default("prefetch_threshold")
    prefetch_max_files: int = default("prefetch_max_files")
    prefetch_max_bytes: int = default("prefetch_max_bytes")
    browse_cache_share: float = default("browse_cache_share")
    wait_for_size: bool = default("wait_for_size")
    streaming_readers: frozenset[str] = default("streaming_readers")
    redis_url: str | None = field(default=default("redis_url"), repr=False)  # may carry a password
    fleet: str | None = default("fleet")
    user_concurrency: int = default("user_concurrency")
    enterprise_concurrency: int = default("enterprise_concurrency")
    lease_seconds: float = default("lease_seconds")
    metrics_addr: str | None = default("metrics_addr")
    requests_file: str | None = default("requests_file")
    uid: int | None = default("uid")
    gid: int | None = default("gid")
    umask: int | None = default("umask")
    log_format: str = default("log_format")
    foreground: bool = default("foreground")
    requests: dict[str, RequestSpec] = field(default_factory=dict)
    source: str = "defaults"

    def auth_env(self, environ: dict[str, str]) -> dict[str, str]:
        """Auth settings as BOX_* variables; the real environment wins over the file."""
        merged = {env: str(v) for name, env in AUTH_ENV.items() if (v := getattr(self, name)) is not None}
        merged.update({k: v for k, v in environ.items() if k in AUTH_ENV.values() and v})
        for key in ("BOX_TOKEN_FILE", "BOX_CLIENT_SECRET_FILE", "BOX_REFRESH_TOKEN_STORE", "BOX_JWT_CONFIG"):
            if key in merged:
                merged[key] = str(Path(merged[key]).expanduser())
        return merged

    def wire(self, stall_timeout: float | None = None) -> Wire:
        """The connections' shared settings (a command's own stall timeout, else the mount's)."""
        stall = self.stall_timeout if stall_timeout is None else stall_timeout
        return Wire(stall_timeout=stall, ca_file=self.ca_file, proxy=self.proxy)

    def override(self, **values: Any) -> Settings:
        """Apply command-line flags (None means: not given)."""
        given = {k: v for k, v in values.items() if v is not None}
        return replace(self, **given)

    def shown(self) -> dict[str, Any]:
        """The effective settings for ``config show``, secrets masked."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in ("redis_url", "proxy") and value:
                value = redact_url(value)
            elif item.name in SECRET_FIELDS and value:
                value = "***"
            elif item.name == "requests":
                value = {name: spec.to_json() for name, spec in value.items()}
            elif isinstance(value, frozenset):
                value = sorted(value)
            out[item.name] = value
        return out


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
    """Settings from the config file at ``path`` (default location if None; absent is fine
    there), then the environment variables of the option table, which win over the file."""
    values = _file_values(path)
    env = os.environ if environ is None else environ
    for variable, option in with_env().items():
        if env.get(variable):
            try:
                values[option.name] = option.read(env[variable], variable)
            except OptionError as exc:
                raise ConfigError(str(exc)) from None
    return Settings(**values)


def _file_values(path: Path | None) -> dict[str, Any]:
    explicit = path is not None
    path = path or default_config_path()
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {path} does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    values: dict[str, Any] = {"source": str(path)}
    top = in_section("")
    unknown = set(data) - set(top) - {s for s in SECTIONS if s} - {"requests"}
    if unknown:
        raise ConfigError(f"{path}: unknown settings {', '.join(sorted(unknown))}")
    tables: list[tuple[str, dict[str, Any]]] = [("", {k: v for k, v in data.items() if k in top})]
    tables += [(section, data.get(section, {})) for section in SECTIONS if section]
    for section, table in tables:
        known = in_section(section)
        for key, value in table.items():
            where = f"{path}: [{section}]" if section else f"{path}:"
            if key not in known:
                named = f"[{section}] " if section else ""
                raise ConfigError(f"{path}: unknown {named}setting {key!r}")
            try:
                values[key] = known[key].read(value, where)
            except OptionError as exc:
                raise ConfigError(str(exc)) from None
    requests = {}
    for name, table in data.get("requests", {}).items():
        try:
            requests[name] = _request_from_toml(name, table)
        except BoxZipError as exc:
            raise ConfigError(f"{path}: [requests.{name}]: {exc}") from None
    values["requests"] = requests
    return values


assert set(BY_NAME) <= {f.name for f in fields(Settings)}, "every option needs a Settings field"


def request_from_items(
    items: list[str], name: str | None, allow_skips: bool, wait: bool | None
) -> RequestSpec:
    """A definition from command-line items like ``folder:123``."""
    parsed = tuple(ZipItem.parse(item) for item in items)
    return parse_request_spec(RequestSpec(ZipRequest(parsed, name), allow_skips, wait).dumps())

"""``boxzipfs login``'s storing half: where the login goes, so that a mount needs nothing more.

After the flow (:mod:`boxzipfs.client.login`) the refresh token is written to the
store (0600, atomically) or, with a Redis, seeds the fleet's shared chain; a
client secret given only in the environment or a prompt is kept in a 0600 file;
and the config file's ``[auth]`` table is pointed at them (tomlkit keeps the
file's comments and other settings). Each file is replaced whole or not at all.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from boxzipfs.atomicfile import atomic_write
from boxzipfs.config import ConfigError, Settings, default_config_path
from boxzipfs.errors import AuthError


def default_store() -> Path:
    return default_config_path().parent / "refresh-token.json"


def client_secret(settings: Settings, environ: dict[str, str]) -> tuple[str, bool]:
    """The client secret and whether it must be kept (given only in the environment or a prompt)."""
    env = settings.auth_env(environ)
    if env.get("BOX_CLIENT_SECRET"):
        kept_elsewhere = bool(settings.client_secret) and not environ.get("BOX_CLIENT_SECRET")
        return env["BOX_CLIENT_SECRET"], not kept_elsewhere
    if env.get("BOX_CLIENT_SECRET_FILE"):
        try:
            return Path(env["BOX_CLIENT_SECRET_FILE"]).read_text().strip(), False
        except OSError as exc:
            raise AuthError(f"cannot read the client secret file: {exc.strerror}") from None
    if sys.stdin.isatty():
        secret = getpass.getpass("Box app's client secret: ").strip()
        if secret:
            return secret, True
    raise AuthError(
        "no client secret: set BOX_CLIENT_SECRET or BOX_CLIENT_SECRET_FILE, or [auth] client_secret_file "
        "in the config file (never an argument: arguments show in ps)"
    )


def store_refresh_token(store: Path, answer: dict[str, Any]) -> None:
    body = json.dumps({"refresh_token": answer["refresh_token"]}) + "\n"
    store.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(store, body.encode(), 0o600)


def seed_fleet(redis_url: str, fleet: str, answer: dict[str, Any]) -> None:
    """Start the fleet's shared chain with this login (what FleetRefreshTokenAuth reads)."""
    import redis

    from boxzipfs.client.fleet_auth import chain_key, store_chain

    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        store_chain(client, chain_key(fleet), answer)
    finally:
        client.close()


def point_config(path: Path, values: dict[str, str], top: dict[str, str]) -> list[str]:
    """Set ``[auth]`` keys (and top-level ones) in the config file, keeping everything else;
    the ``[auth]`` keys removed because they would win over the login."""
    try:
        document = tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
    except (OSError, TOMLKitError) as exc:
        raise ConfigError(f"cannot update the config file {path}: {exc}") from None
    for key, value in top.items():
        document[key] = value
    auth = document.get("auth")
    if auth is None:
        auth = tomlkit.table()
        document["auth"] = auth
    for key, value in values.items():
        auth[key] = value
    winning = ("access_token", "token_file", "jwt_config", "subject_type", "subject_id")
    removed = [key for key in winning if key in auth]
    for key in removed:
        del auth[key]
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, tomlkit.dumps(document).encode(), 0o600)
    return removed

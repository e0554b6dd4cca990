"""A refresh-token chain shared through a real Redis: hosts never break each other's chain."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import redis

from boxzipfs.client import BoxClient, RefreshTokenAuth
from boxzipfs.client.fleet_auth import FleetRefreshTokenAuth
from boxzipfs.errors import AuthError
from tests.conftest import StartServer
from tests.helpers import write_users
from tests.redisserver import RedisServer


def seed(path: Path) -> Path:
    path.write_text(json.dumps({"refresh_token": "first-refresh"}))
    return path


def hammer(clients: list[BoxClient], seconds: float) -> list[BaseException]:
    """Every host lists a folder over and over while access tokens expire (1 s)."""
    errors: list[BaseException] = []

    def run(client: BoxClient) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                assert len(list(client.list_folder("0"))) == 3
            except BaseException as exc:
                errors.append(exc)
                return
            time.sleep(0.05)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def test_hosts_sharing_one_chain_in_redis_never_break_it(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, tmp_path: Path, redis_server: RedisServer
) -> None:
    users = write_users(
        tmp_path / "users.json", [{"id": "7", "refresh_tokens": ["first-refresh"]}], clients=True
    )
    server = start_server(tree[0], "--users", str(users), "--token-ttl", "1")
    clients, shared = [], []
    for host in range(3):
        http = httpx.Client(timeout=10)
        store = seed(tmp_path / f"seed{host}.json")  # every host was given the same first token
        base = RefreshTokenAuth(http, f"{server.url}/oauth2/token", store, "cid", "cs")
        connection = redis.Redis.from_url(redis_server.url)
        shared.append(connection)
        auth = FleetRefreshTokenAuth.sharing(base, connection, "tokens")
        clients.append(BoxClient(http, auth, server.url))
    try:
        assert hammer(clients, 3.5) == []  # three expiries, every refresh serialized
        stored = shared[0].hgetall("boxzipfs:fleet:tokens:auth")
        assert stored[b"refresh_token"] != b"first-refresh"
        assert b"first-refresh" not in json.dumps(clients[0].auth.stored()).encode()  # type: ignore[attr-defined]
    finally:
        for client in clients:
            client.http.close()
        for connection in shared:
            connection.close()


def test_without_the_fleet_hosts_break_each_others_chain(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, tmp_path: Path
) -> None:
    """The pitfall the shared chain exists for (rclone and the Box SDKs hit it)."""
    users = write_users(
        tmp_path / "users.json", [{"id": "7", "refresh_tokens": ["first-refresh"]}], clients=True
    )
    server = start_server(tree[0], "--users", str(users), "--token-ttl", "1")
    clients = []
    for host in range(2):
        http = httpx.Client(timeout=10)
        auth = RefreshTokenAuth(
            http, f"{server.url}/oauth2/token", seed(tmp_path / f"own{host}.json"), "cid", "cs"
        )
        clients.append(BoxClient(http, auth, server.url))
    try:
        errors = hammer(clients, 1.5)
        assert errors and all(isinstance(e, AuthError) for e in errors)
        assert "invalid_grant" in str(errors[0])
    finally:
        for client in clients:
            client.http.close()

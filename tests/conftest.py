"""Shared fixtures: a source tree and real ``boxzipfs serve`` processes on loopback."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from boxzipfs.server.child import LocalServer, start_local_server
from tests import mounting
from tests.helpers import make_tree
from tests.mounting import mounted
from tests.redisserver import RedisServer

StartServer = Callable[..., LocalServer]


XDG_DIRS = ("XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR")


@pytest.fixture(autouse=True, scope="session")
def private_xdg_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every default directory a mount or command uses lies in a temporary directory: a test
    run leaves nothing in $HOME (and a user's own config never changes a test)."""
    base = tmp_path_factory.mktemp("xdg")
    saved = {name: os.environ.get(name) for name in XDG_DIRS}
    for name in XDG_DIRS:
        os.environ[name] = str(base / name.lower())
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def daemon_log_allowances(request: pytest.FixtureRequest) -> Iterator[None]:
    """The log lines this test's mounts may write (its daemon_log markers)."""
    mounting.ALLOWED[:] = [p for marker in request.node.iter_markers("daemon_log") for p in marker.args]
    yield
    mounting.ALLOWED.clear()


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path / "box"
    root.mkdir()
    return root, make_tree(root)


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Start servers with extra CLI args; all are stopped after the test."""
    servers: list[LocalServer] = []

    def start(root: Path, *args: str, **kwargs: object) -> LocalServer:
        server = start_local_server(root, list(args), **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(tree: tuple[Path, dict[str, bytes]], start_server: StartServer) -> LocalServer:
    return start_server(tree[0])


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount boxzipfs with extra CLI args; returns the mountpoint; unmounts after the test."""
    stack = contextlib.ExitStack()
    count = 0

    def do_mount(*args: str, env: dict[str, str] | None = None, state: str = "state") -> Path:
        nonlocal count
        count += 1
        mountpoint = tmp_path / f"mnt{count}"
        extra = ["--state-dir", str(tmp_path / state), "--cache-dir", str(tmp_path / f"cache{count}")]
        stack.enter_context(mounted(mountpoint, [*extra, *args], tmp_path / "mount.log", env))
        return mountpoint

    with stack:
        yield do_mount


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private, running redis-server that wants a password (stopped after the test, whatever
    happens); its URL carries the password, a secret no log, status or metric may show."""
    server = RedisServer(password="fleet-s3cret-pw")
    try:
        yield server.start()
    finally:
        server.close()

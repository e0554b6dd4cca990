"""Shared fixtures: a source tree and real ``boxzipfs serve`` processes on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from boxzipfs.local_server import LocalServer, start_local_server
from tests.helpers import make_tree

StartServer = Callable[..., LocalServer]


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

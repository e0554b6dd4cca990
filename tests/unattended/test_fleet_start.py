"""#18.9: a Redis that refuses the mount's credentials fails the mount with one clear line
(no password shown); an unreachable Redis at start degrades loudly; an idle degraded mount
rejoins by its heartbeat once Redis answers again."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import boxzipfs
from tests.mounting import is_mounted
from tests.redisserver import RedisServer

pytestmark = pytest.mark.mount


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_wrong_redis_password_fails_the_mount_in_one_line(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path, redis_server: RedisServer
) -> None:
    root, _ = tree
    mp = tmp_path / "mnt"
    mp.mkdir()
    wrong = redis_server.url.replace("fleet-s3cret-pw", "not-the-pw")
    done = boxzipfs(
        "mount", mp, "--local", root, "--state-dir", tmp_path / "st", "--cache-dir", tmp_path / "c",
        env={"BOXZIPFS_REDIS_URL": wrong},
    )  # fmt: skip
    try:
        assert done.returncode != 0
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("boxzipfs: "), done.stderr
        assert "Redis refused" in lines[0]
        assert "not-the-pw" not in done.stderr + done.stdout
        assert not is_mounted(mp)
    finally:
        if is_mounted(mp):
            boxzipfs("unmount", mp)


@pytest.mark.daemon_log(r"fleet \S+ degraded: Redis unreachable", r"fleet \S+: Redis answers again; rejoined")
def test_an_idle_mount_degrades_and_rejoins_by_its_heartbeat(
    tree: tuple[Path, dict[str, bytes]], mount: Callable[..., Path], redis_server: RedisServer
) -> None:
    root, _ = tree
    port = free_port()
    mount("--local", str(root), "--lease-seconds", "1", "--metrics-addr", str(port),
          env={"BOXZIPFS_REDIS_URL": redis_server.url})  # fmt: skip

    def degraded() -> float:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        line = next(line for line in text.splitlines() if line.startswith("boxzipfs_fleet_degraded"))
        return float(line.split()[-1])

    def settles(value: float) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if degraded() == value:
                return True
            time.sleep(0.1)
        return False

    assert degraded() == 0
    redis_server.stop()
    assert settles(1), "an idle mount never noticed Redis was gone"
    redis_server.start()
    assert settles(0), "an idle mount kept reporting degraded after Redis came back"

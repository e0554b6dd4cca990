"""A fleet: several mounts (separate processes) sharing one account's budget through a real Redis."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from boxzipfs.server.child import LocalServer
from tests.conftest import StartServer
from tests.helpers import bearer, boxzipfs, expected_members, free_port, zip_contents
from tests.mount.support import define, folder_items, status
from tests.mounting import mounted
from tests.redisserver import RedisServer

pytestmark = pytest.mark.mount


def make_folder(root: Path) -> None:
    (root / "data").mkdir(parents=True)
    for index in range(4):
        (root / "data" / f"part{index}.bin").write_bytes(os.urandom(250_000))


@contextlib.contextmanager
def fleet(
    count: int, server: LocalServer, redis: RedisServer, tmp_path: Path, *extra: str, killed: int = -1
) -> Iterator[list[tuple[Path, int, object]]]:
    """``count`` mounts of one fleet; yields (mountpoint, metrics port, process) for each
    (the test kills the daemon of mount number ``killed``)."""
    with contextlib.ExitStack() as stack:
        mounts = []
        for index in range(count):
            port = free_port()
            args = ["--api-url", server.url, "--fleet", "test", "--state-dir", str(tmp_path / f"st{index}"),
                    "--cache-dir", str(tmp_path / f"cache{index}"),
                    "--metrics-addr", str(port), *extra]  # fmt: skip
            env = {"BOX_ACCESS_TOKEN": server.token, "BOXZIPFS_REDIS_URL": redis.url}
            process = stack.enter_context(
                mounted(
                    tmp_path / f"m{index}",
                    args,
                    tmp_path / f"log{index}",
                    env,
                    expect_exit=None if index == killed else 0,
                )
            )
            mounts.append((tmp_path / f"m{index}", port, process))
        yield mounts


def read_all(paths: list[Path]) -> list[bytes | OSError]:
    results: list[bytes | OSError] = [b""] * len(paths)

    def read(index: int) -> None:
        try:
            results[index] = paths[index].read_bytes()
        except OSError as exc:
            results[index] = exc

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(paths))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def server_stats(server: LocalServer) -> dict[str, int]:
    return dict(httpx.get(f"{server.url}/_boxzipfs/stats", headers=bearer(server.token)).json())


def test_three_mounts_keep_the_accounts_limit_and_meet_no_429(
    tmp_path: Path, start_server: StartServer, redis_server: RedisServer
) -> None:
    root = tmp_path / "box"
    make_folder(root)
    server = start_server(root, "--throttle", "1000000")  # each download takes about a second
    with fleet(3, server, redis_server, tmp_path) as mounts:
        paths = []
        for mountpoint, _, _ in mounts:
            for index in range(5):
                paths.append(
                    define(mountpoint, f"r{index}", {"items": folder_items(root, "data")}) / "request.zip"
                )
        results = read_all(paths)
        expected = expected_members(root, "data")
        assert all(isinstance(r, bytes) and zip_contents(r) == expected for r in results), [
            r for r in results if not isinstance(r, bytes)
        ]
        stats = server_stats(server)
        assert stats["downloads_started"] == 15
        assert stats["peak_active_downloads"] <= 5, stats
        assert stats["answered_429"] == 0, stats
        doc = status(paths[0].parent)
        assert doc["fleet"]["fleet"] == "test" and doc["fleet"]["degraded"] is None  # type: ignore[index]

        scrape = httpx.get(f"http://127.0.0.1:{mounts[0][1]}/metrics").text
        values = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(boxzipfs_\S+) (\S+)$", scrape, re.M)}
        size = len(results[0])  # type: ignore[arg-type]
        assert values['boxzipfs_downloads_total{outcome="succeeded",reason=""}'] == 5
        assert values["boxzipfs_bytes_delivered_total"] == values["boxzipfs_bytes_read_total"] == 5 * size
        assert values["boxzipfs_fleet_lease_waits_total"] == 5
        assert values["boxzipfs_downloads_active"] == values["boxzipfs_fleet_degraded"] == 0
        for secret in (server.token, "fleet-s3cret-pw", "download_url", "/content"):
            assert secret not in scrape and secret not in json.dumps(doc)


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_a_killed_host_loses_its_leases_and_the_others_go_on(
    tmp_path: Path, start_server: StartServer, redis_server: RedisServer
) -> None:
    root = tmp_path / "box"
    make_folder(root)
    server = start_server(root, "--throttle", "100000")  # 10 s per download: the leases stay held
    with fleet(2, server, redis_server, tmp_path, "--lease-seconds", "2", killed=0) as mounts:
        (doomed, _, process), (survivor, _, _) = mounts
        slow = [
            define(doomed, f"r{i}", {"items": folder_items(root, "data")}) / "request.zip" for i in range(5)
        ]
        readers = threading.Thread(target=read_all, args=(slow,))
        readers.start()
        deadline = time.monotonic() + 10
        while server_stats(server)["active_downloads"] < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server_stats(server)["active_downloads"] == 5  # the doomed host holds the whole budget
        shown = boxzipfs(
            "status", "--fleet", "--fleet-name", "test", env={"BOXZIPFS_REDIS_URL": redis_server.url}
        )
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith("fleet test: 5 user leases, 5 enterprise leases, 0 waiting"), (
            shown.stdout
        )
        assert f":{process.pid}:" in shown.stdout and "5 held" in shown.stdout  # type: ignore[attr-defined]
        assert "fleet-s3cret-pw" not in shown.stdout + shown.stderr
        os.kill(process.pid, signal.SIGKILL)  # type: ignore[attr-defined]
        httpx.put(f"{server.url}/_boxzipfs/faults", json={}, headers=bearer(server.token))  # full speed now
        started = time.monotonic()
        request = define(survivor, "after", {"items": folder_items(root, "data")})
        assert zip_contents((request / "request.zip").read_bytes()) == expected_members(root, "data")
        assert time.monotonic() - started < 2 + 5, "the dead host's leases did not lapse in time"
        readers.join(30)


@pytest.mark.daemon_log(
    r"fleet \S+ degraded: Redis unreachable",
    r"fleet \S+: Redis answers again; rejoined",
    r"download \S+ failed: ",
    r"API pacing: the shared budget is unreachable",
)
def test_redis_lost_mid_run_then_back(
    tmp_path: Path, start_server: StartServer, redis_server: RedisServer
) -> None:
    root = tmp_path / "box"
    make_folder(root)
    server = start_server(root, "--throttle", "2000000")
    with fleet(2, server, redis_server, tmp_path, "--lease-seconds", "2") as mounts:
        paths = [define(m, f"r{i}", {"items": folder_items(root, "data")}) / "request.zip"
                 for m, _, _ in mounts for i in range(3)]  # fmt: skip
        results: list[list[bytes | OSError]] = []
        readers = threading.Thread(target=lambda: results.append(read_all(paths)))
        readers.start()
        time.sleep(0.2)
        redis_server.stop()
        readers.join(60)
        expected = expected_members(root, "data")
        assert all(isinstance(r, bytes) and zip_contents(r) == expected for r in results[0])
        late = define(mounts[0][0], "late", {"items": folder_items(root, "data")})
        assert zip_contents((late / "request.zip").read_bytes()) == expected  # degraded, still works
        assert "local limits only" in json.dumps(status(late)["fleet"])
        redis_server.start()
        again = define(mounts[0][0], "again", {"items": folder_items(root, "data")})
        assert zip_contents((again / "request.zip").read_bytes()) == expected
        assert status(again)["fleet"]["degraded"] is None  # type: ignore[index]
    logs = (tmp_path / "log0").read_text()
    assert "degraded" in logs and "rejoined" in logs
    assert "password=***" in logs and "fleet-s3cret-pw" not in logs + (tmp_path / "log1").read_text()

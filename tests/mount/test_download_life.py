"""A download's life as tools see it: new archives get new times, stat costs
nothing, Box's 429s are waited out visibly and within the deadline, and
abandoned downloads stop."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import StartServer
from tests.helpers import bearer, expected_members, file_id, zip_contents
from tests.mount.support import define, folder_items, run, status

pytestmark = pytest.mark.mount
Mount = Callable[..., Path]


def stats(server_url: str, token: str) -> dict[str, int]:
    return dict(httpx.get(f"{server_url}/_boxzipfs/stats", headers=bearer(token)).json())


def test_a_cron_rsync_picks_up_a_new_archive_of_the_same_size(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, tmp_path: Path
) -> None:
    root, _ = tree
    mp = mount("--local", str(root), "--reuse-seconds", "1")
    request = define(mp, "docs", {"items": folder_items(root, "docs"), "wait_for_size": True})
    backup = tmp_path / "backup"
    backup.mkdir()
    first = run("rsync", "-a", request / "request.zip", backup / "docs.zip")
    assert first.returncode == 0, first.stderr
    old = (backup / "docs.zip").read_bytes()
    assert zip_contents(old) == expected_members(root, "docs")

    readme = root / "docs" / "readme.txt"
    readme.write_bytes(readme.read_bytes().upper())  # same size, new content
    time.sleep(1.5)  # past the reuse window: the next read is a new archive
    second = run("rsync", "-a", request / "request.zip", backup / "docs.zip")
    assert second.returncode == 0, second.stderr
    new = (backup / "docs.zip").read_bytes()
    assert len(new) == len(old) and new != old
    assert zip_contents(new) == expected_members(root, "docs")
    assert zip_contents(new)["docs/readme.txt"] == b"HELLO BOX\n"


def test_stat_and_listing_never_start_a_download(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, mount: Mount
) -> None:
    root, _ = tree
    server = start_server(root)
    mp = mount("--api-url", server.url, env={"BOX_ACCESS_TOKEN": server.token})
    request = define(mp, "docs", {"items": folder_items(root, "docs")})
    for _ in range(3):
        assert run("ls", "-lR", mp).returncode == 0
        assert (request / "request.zip").stat().st_size == 0
        (request / "status.json").read_bytes()
    assert stats(server.url, server.token)["creates"] == 0
    first = (request / "request.zip").stat().st_mtime_ns
    time.sleep(0.05)
    assert (request / "request.zip").stat().st_mtime_ns > first  # a read now would get a new archive


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_box_429s_show_in_status_and_end_in_eagain_past_the_deadline(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, mount: Mount, tmp_path: Path
) -> None:
    root, _ = tree
    server = start_server(root, "--fail-create", "429:4x3")
    mp = mount("--api-url", server.url, "--queue-deadline", "5", env={"BOX_ACCESS_TOKEN": server.token})
    request = define(mp, "docs", {"items": folder_items(root, "docs")})
    seen: list[dict[str, object]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(status(request))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        copy = run("cp", request / "request.zip", tmp_path / "out.zip")
    finally:
        done.set()
        watcher.join()
    elapsed = time.monotonic() - started
    assert copy.returncode != 0
    assert os.strerror(errno.EAGAIN) in copy.stderr.decode()
    assert elapsed < 7, elapsed  # one 4 s wait fits the 5 s deadline, a second does not
    throttled = [doc for doc in seen if doc["phase"] == "throttled"]
    assert throttled, seen
    assert throttled[0]["throttled"] == {"status": 429, "code": "too_many_requests", "count": 1}
    assert 0 < float(throttled[0]["retry_in_seconds"]) <= 4  # type: ignore[arg-type]
    final = status(request)
    assert final["phase"] == "failed" and final["error"]["errno"] == "EAGAIN"  # type: ignore[index]
    assert "Box answered 429 too_many_requests; creating anew in 4.0s" in (tmp_path / "mount.log").read_text()

    # Within the deadline the wait succeeds, and status.json keeps the count.
    httpx.put(
        f"{server.url}/_boxzipfs/faults",
        json={"create_errors": [{"status": 429, "retry_after": 0.5, "count": 2}]},
        headers=bearer(server.token),
    )
    data = (request / "request.zip").read_bytes()
    assert zip_contents(data) == expected_members(root, "docs")
    assert status(request)["throttled"] == {"status": 429, "code": "too_many_requests", "count": 2}


def test_an_abandoned_download_stops_after_the_grace_and_frees_slot_and_spool(
    tmp_path: Path, start_server: StartServer, mount: Mount
) -> None:
    root = tmp_path / "big"
    root.mkdir()
    (root / "data.bin").write_bytes(os.urandom(8 << 20))
    server = start_server(root, "--throttle", "1M", "--chunk-size", "64K")
    mp = mount(
        "--api-url", server.url, "--abandon-seconds", "1", "--reuse-seconds", "0",
        env={"BOX_ACCESS_TOKEN": server.token},
    )  # fmt: skip
    request = define(mp, "big", {"items": [{"type": "file", "id": file_id(root, "data.bin")}]})
    cache = tmp_path / f"cache{mp.name.removeprefix('mnt')}"

    # A quick reopen within the grace shares the running download.
    head = subprocess.run(["head", "-c", "4", request / "request.zip"], capture_output=True, check=False)
    assert head.stdout == b"PK\x03\x04"
    time.sleep(0.3)
    again = subprocess.run(["head", "-c", "4", request / "request.zip"], capture_output=True, check=False)
    assert again.stdout == b"PK\x03\x04"
    assert stats(server.url, server.token)["creates"] == 1
    assert status(request)["phase"] == "streaming"

    deadline = time.monotonic() + 10
    while status(request)["phase"] == "streaming" and time.monotonic() < deadline:
        time.sleep(0.1)
    final = status(request)
    assert final["phase"] == "abandoned", final
    assert "after its last reader closed" in final["error"]["message"]  # type: ignore[index]
    assert int(final["bytes_delivered"]) < 8 << 20  # type: ignore[call-overload]
    deadline = time.monotonic() + 5
    while stats(server.url, server.token)["active_downloads"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stats(server.url, server.token)["active_downloads"] == 0
    assert not list(cache.glob("*.spool"))

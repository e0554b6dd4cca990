"""ArchiveDownload and DownloadManager against the real server, without FUSE."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from boxzipfs.client import BoxClient, RetryPolicy, StaticTokenAuth
from boxzipfs.download.archive import ArchiveDownload, DownloadSettings, Phase
from boxzipfs.download.manager import DownloadManager, ManagerSettings
from boxzipfs.errors import ArchiveIncomplete, QueueTimeout, StreamBroken
from boxzipfs.models import RequestSpec, ZipItem, ZipRequest
from boxzipfs.server.child import LocalServer
from tests.conftest import StartServer
from tests.helpers import bearer, expected_members, file_id, zip_contents


def read_all(download: ArchiveDownload, piece: int = 65536) -> bytes:
    out, offset = bytearray(), 0
    while chunk := download.read(offset, piece):
        out += chunk
        offset += len(chunk)
    return bytes(out)


def folder_spec(root: Path, rel: str, **options: bool) -> RequestSpec:
    return RequestSpec(ZipRequest((ZipItem("folder", file_id(root, rel)),), rel), **options)


def stats(http: httpx.Client, server: LocalServer) -> dict[str, int]:
    return dict(http.get(f"{server.url}/_boxzipfs/stats", headers=bearer(server.token)).json())


@pytest.fixture
def make_manager(tmp_path: Path, http: httpx.Client) -> Iterator[object]:
    managers: list[DownloadManager] = []

    def make(server: LocalServer, **settings: object) -> DownloadManager:
        client = BoxClient(
            http, StaticTokenAuth(server.token), server.url, RetryPolicy(attempts=2, backoff=0.05)
        )
        download = DownloadSettings(
            **{k: settings.pop(k) for k in list(settings) if k in DownloadSettings.__dataclass_fields__}  # type: ignore[arg-type]
        )
        manager = DownloadManager(
            client,
            ManagerSettings(cache_dir=tmp_path / "cache", download=download, **settings),  # type: ignore[arg-type]
        )
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        manager.shutdown()


def test_concurrent_opens_share_one_download_and_see_identical_bytes(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client, make_manager
) -> None:
    root, _ = tree
    server = start_server(root, "--throttle", "400000", "--chunk-size", "16K")
    manager = make_manager(server)
    spec = folder_spec(root, "docs")
    first = manager.acquire("docs", spec)
    second = manager.acquire("docs", spec)
    assert first is second
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(read_all(first))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results[0] == results[1]
    assert zip_contents(results[0]) == expected_members(root, "docs")
    assert stats(http, server)["downloads_started"] == 1
    manager.release(first)
    manager.release(second)


def test_completed_archive_is_reused_within_the_window_then_recreated(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, http: httpx.Client, make_manager
) -> None:
    root, _ = tree
    manager = make_manager(server, reuse_seconds=1.0)
    spec = folder_spec(root, "docs")
    first = manager.acquire("docs", spec)
    data = read_all(first)
    manager.release(first)
    first.join(5)
    time.sleep(0.1)
    assert manager.current("docs", spec) is first
    again = manager.acquire("docs", spec)
    assert again is first
    assert read_all(again) == data
    manager.release(again)
    assert stats(http, server)["downloads_started"] == 1
    time.sleep(1.1)
    assert manager.current("docs", spec) is None
    assert not first.spool.path.exists()  # expired and unread: its spool is gone
    third = manager.acquire("docs", spec)
    assert third is not first
    assert zip_contents(read_all(third)) == zip_contents(data)
    manager.release(third)
    assert stats(http, server)["downloads_started"] == 2


def test_cut_stream_fails_readers_and_the_next_open_creates_a_new_archive(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, http: httpx.Client, make_manager
) -> None:
    root, _ = tree
    manager = make_manager(server, resume_attempts=0)  # resuming has tests of its own
    http.put(f"{server.url}/_boxzipfs/faults", json={"cut_after": 20000}, headers=bearer(server.token))
    spec = folder_spec(root, "docs")
    broken = manager.acquire("docs", spec)
    with pytest.raises(StreamBroken):
        read_all(broken)
    manager.release(broken)
    assert broken.phase is Phase.FAILED
    http.put(f"{server.url}/_boxzipfs/faults", json={}, headers=bearer(server.token))
    fresh = manager.acquire("docs", spec)
    assert fresh is not broken
    assert zip_contents(read_all(fresh)) == expected_members(root, "docs")
    manager.release(fresh)
    assert stats(http, server)["downloads_started"] == 2


def _skipping_tree(root: Path) -> RequestSpec:
    (root / "batch").mkdir()
    (root / "batch" / "a-large.bin").write_bytes(b"a" * 600_000)
    (root / "batch" / "z-last.txt").write_bytes(b"last")
    return folder_spec(root, "batch")


@pytest.mark.parametrize("allow_skips", [False, True])
def test_skipped_files_fail_the_end_unless_allowed(
    tmp_path: Path, start_server: StartServer, make_manager, allow_skips: bool
) -> None:
    root = tmp_path / "skip"
    root.mkdir()
    spec = _skipping_tree(root)
    spec = RequestSpec(spec.request, allow_skips=allow_skips)
    server = start_server(root, "--throttle", "300000", "--chunk-size", "16K")
    manager = make_manager(server)
    download = manager.acquire("batch", spec)
    time.sleep(0.5)  # the large file is streaming; the last one is not reached yet
    (root / "batch" / "z-last.txt").unlink()
    if allow_skips:
        members = zip_contents(read_all(download))
        assert set(members) == {"batch/", "batch/a-large.bin"}
    else:
        with pytest.raises(ArchiveIncomplete, match="skipped 1 files and 0 folders"):
            read_all(download)
    status = download.poll_status(force=True)
    assert status is not None
    assert (status.total_file_count, status.downloaded_file_count, status.skipped_file_count) == (2, 1, 1)
    manager.release(download)


def test_local_queue_serves_one_download_at_a_time_in_order(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, make_manager
) -> None:
    root, _ = tree
    server = start_server(root, "--throttle", "300000", "--chunk-size", "16K")
    manager = make_manager(server, max_downloads=1)
    docs = manager.acquire("docs", folder_spec(root, "docs"))
    photos = manager.acquire("photos", folder_spec(root, "photos"))
    time.sleep(0.3)
    assert docs.phase is Phase.STREAMING
    assert photos.phase is Phase.QUEUED
    assert manager.slots.position(photos) == 1
    assert zip_contents(read_all(photos)) == expected_members(root, "photos")
    assert docs.phase is Phase.SUCCEEDED  # photos could only start after docs ended
    manager.release(docs)
    manager.release(photos)


def test_box_429_is_waited_out_then_past_the_deadline_is_queue_timeout(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client, make_manager
) -> None:
    root, _ = tree
    server = start_server(root, "--user-concurrency", "1", "--throttle", "200000", "--chunk-size", "16K")
    blocker = http.post(
        f"{server.url}/2.0/zip_downloads",
        json={"items": [{"type": "folder", "id": file_id(root, "docs")}]},
        headers=bearer(server.token),
    ).json()
    with httpx.Client(timeout=30) as other:
        held = other.send(other.build_request("GET", blocker["download_url"]), stream=True)
        manager = make_manager(server, default_retry_after=0.2, queue_deadline=30.0)
        waiting = manager.acquire("photos", folder_spec(root, "photos"))
        seen = set()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # it alternates: throttled (Retry-After), creating anew
            seen.add(waiting.phase)
            time.sleep(0.01)
        assert Phase.THROTTLED in seen
        assert Phase.FAILED not in seen and Phase.STREAMING not in seen
        held.close()
        assert zip_contents(read_all(waiting)) == expected_members(root, "photos")
        manager.release(waiting)

        blocker = http.post(
            f"{server.url}/2.0/zip_downloads",
            json={"items": [{"type": "folder", "id": file_id(root, "docs")}]},
            headers=bearer(server.token),
        ).json()
        held = other.send(other.build_request("GET", blocker["download_url"]), stream=True)
        impatient = make_manager(server, default_retry_after=0.2, queue_deadline=0.5)
        doomed = impatient.acquire("photos", folder_spec(root, "photos"))
        with pytest.raises(QueueTimeout):
            doomed.wait_started()
        impatient.release(doomed)
        held.close()


def test_completed_spools_are_bounded_by_cache_size_least_recently_used_first(
    tmp_path: Path, start_server: StartServer, make_manager, http: httpx.Client
) -> None:
    root = tmp_path / "lru"
    for name in ("a", "b", "c"):
        (root / name).mkdir(parents=True)
        (root / name / "data.bin").write_bytes(name.encode() * 100_000)
    server = start_server(root)
    leftover = tmp_path / "cache" / "000009-old.spool"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"from a killed run")
    manager = make_manager(server, cache_size=250_000, reuse_seconds=300.0)
    assert not leftover.exists()  # cleaned at start
    specs = {name: folder_spec(root, name) for name in ("a", "b", "c")}

    def fetch(name: str) -> ArchiveDownload:
        download = manager.acquire(name, specs[name])
        read_all(download)
        manager.release(download)
        download.join(5)
        time.sleep(0.05)  # the watcher caches it
        return download

    a, b = fetch("a"), fetch("b")
    assert manager.current("a", specs["a"]) is a and manager.current("b", specs["b"]) is b
    manager.release(manager.acquire("a", specs["a"]))  # a is now the most recently used
    fetch("c")  # 3 x 100 KB > 250 KB: the least recently used goes
    assert manager.current("b", specs["b"]) is None
    assert not b.spool.path.exists()
    assert manager.current("a", specs["a"]) is a
    assert manager.current("c", specs["c"]) is not None
    assert len(list((tmp_path / "cache").glob("*.spool"))) == 2

    # A streaming archive counts too: as it grows, completed spools make room.
    http.put(f"{server.url}/_boxzipfs/faults", json={"throttle": 50_000}, headers=bearer(server.token))
    growing = manager.acquire("b", specs["b"])
    deadline = time.monotonic() + 5
    while growing.spool.length < 60_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a budget check (every 0.2 s) has run; at 50 KB/s it still streams
    assert growing.phase is Phase.STREAMING
    assert manager.current("a", specs["a"]) is None  # the least recently used made room
    assert manager.current("c", specs["c"]) is not None
    read_all(growing)
    manager.release(growing)
    manager.shutdown()
    assert not list((tmp_path / "cache").glob("*.spool"))  # spools cleaned at unmount, the dir kept


def test_the_next_download_writes_over_the_last_ones_spool_file(
    tmp_path: Path, start_server: StartServer, make_manager
) -> None:
    root = tmp_path / "reuse"
    for name, size in (("big", 400_000), ("small", 50_000)):
        (root / name).mkdir(parents=True)
        (root / name / "data.bin").write_bytes(os.urandom(size))
    server = start_server(root)
    manager = make_manager(server, reuse_seconds=0.0)
    first = manager.acquire("big", folder_spec(root, "big"))
    read_all(first)
    inode = first.spool.path.stat().st_ino
    manager.release(first)
    first.join(5)
    deadline = time.monotonic() + 5
    while first.spool.path.exists() and time.monotonic() < deadline:  # retired once filed as done
        manager.current("big", folder_spec(root, "big"))
        time.sleep(0.05)
    second = manager.acquire("small", folder_spec(root, "small"))
    data = read_all(second)
    assert second.spool.path.stat().st_ino == inode
    assert second.spool.path.stat().st_size == len(data) < 400_000
    assert zip_contents(data) == expected_members(root, "small")
    manager.release(second)

"""#21: browse/ at archive speed. A folder's small files in one zip download, every file
checked against Box's SHA-1, and kept across remounts; over both archive formats."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from boxzipfs.server.child import LocalServer
from tests.conftest import StartServer
from tests.helpers import bearer, file_id
from tests.mounting import mounted

pytestmark = pytest.mark.mount
FILES = 60


def make_folder(root: Path, name: str = "many", count: int = FILES, size: int = 3000) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for index in range(count):
        (folder / f"f{index:03d}.txt").write_bytes(os.urandom(size // 2).hex().encode()[:size])
    (folder / "large.bin").write_bytes(os.urandom(200_000))  # above the threshold: its own stream
    return folder


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def creates(server: LocalServer) -> int:
    return int(httpx.get(f"{server.url}/_boxzipfs/stats", headers=bearer(server.token)).json()["creates"])


def copy(mp: Path, source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["cp", "-r", str(mp / "browse" / source.name), str(out)],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def same(source: Path, out: Path) -> bool:
    return sorted(p.name for p in out.iterdir()) == sorted(p.name for p in source.iterdir()) and all(
        (out / p.name).read_bytes() == p.read_bytes() for p in source.iterdir()
    )


class Box:
    """A server over ``root`` in one archive format, and mounts of it sharing one cache."""

    def __init__(self, root: Path, server: LocalServer, tmp: Path) -> None:
        self.root, self.server, self.tmp = root, server, tmp
        self.count = 0

    @contextlib.contextmanager
    def mount(self, *more: str) -> Iterator[Path]:
        self.count += 1
        mp = self.tmp / f"mnt{self.count}"
        args = ["--api-url", self.server.url, "--state-dir", str(self.tmp / "state"),
                "--cache-dir", str(self.tmp / "cache"), "--prefetch-threshold", "64K", *more]  # fmt: skip
        with mounted(mp, args, self.tmp / "mount.log", {"BOX_ACCESS_TOKEN": self.server.token}):
            yield mp


@pytest.fixture(params=["stored", "deflate"])
def box(request: pytest.FixtureRequest, tmp_path: Path, start_server: StartServer) -> Iterator[Box]:
    root = tmp_path / "box"
    root.mkdir()
    server = start_server(root, "--archive-format", request.param)
    yield Box(root, server, tmp_path)


def test_cp_r_of_a_folder_takes_a_few_creates_and_a_remount_none(box: Box) -> None:
    source = make_folder(box.root)
    with box.mount() as mp:
        done = copy(mp, source, box.tmp / "out1")
        assert done.returncode == 0, done.stderr
        assert same(source, box.tmp / "out1")
    first = creates(box.server)
    # the first file alone, then the other 59 small ones in one download, the large file alone
    assert first == 3, first
    with box.mount() as mp:  # a remount, the folder unchanged
        done = copy(mp, source, box.tmp / "out2")
        assert done.returncode == 0, done.stderr
        assert same(source, box.tmp / "out2")
    # every small file came from the verified cache; only the large one (no share) is fetched again
    assert creates(box.server) - first <= 1


@pytest.mark.daemon_log(r"browse cache: \S+ no longer matches its SHA-1 or size; dropped")
def test_a_file_changed_on_box_is_fetched_again_and_a_corrupted_entry_dropped(box: Box) -> None:
    source = make_folder(box.root, count=10)
    with box.mount() as mp:
        assert copy(mp, source, box.tmp / "out1").returncode == 0
    changed = source / "f003.txt"
    changed.write_bytes(changed.read_bytes()[::-1])  # same size, new SHA-1
    kept = source / "f005.txt"
    victim = box.tmp / "cache" / "files" / f"{file_id(box.root, 'many/f005.txt')}-{sha1(kept)}"
    data = bytearray(victim.read_bytes())
    data[0] ^= 0xFF
    victim.write_bytes(bytes(data))  # the disk corrupted one entry
    before = creates(box.server)
    with box.mount() as mp:
        done = copy(mp, source, box.tmp / "out2")
        assert done.returncode == 0, done.stderr
        assert same(source, box.tmp / "out2")  # the new bytes, and the corrupted file's true ones
    assert 1 <= creates(box.server) - before <= 3
    log = (box.tmp / "mount.log").read_text()
    assert log.count("no longer matches its SHA-1") == 1


@pytest.mark.daemon_log(r"download \S+ failed: .*SHA-1")
def test_bytes_that_do_not_match_the_listed_sha1_are_eio_never_served(box: Box) -> None:
    source = make_folder(box.root, count=3)
    with box.mount("--list-ttl", "3600", "--prefetch-after", "0") as mp:
        assert sorted(os.listdir(mp / "browse" / "many"))[:1] == ["f000.txt"]  # listed: SHA-1 known
        target = source / "f001.txt"
        target.write_bytes(target.read_bytes()[::-1])  # changed on Box after the listing, same size
        with pytest.raises(OSError) as caught:
            (mp / "browse" / "many" / "f001.txt").read_bytes()
        assert caught.value.errno == errno.EIO
        status = os.getxattr(mp / "browse" / "many" / "f001.txt", "user.boxzipfs.status").decode()
        assert "SHA-1" in status
        assert (mp / "browse" / "many" / "f002.txt").read_bytes() == (source / "f002.txt").read_bytes()


def test_two_readers_at_once_and_small_prefetches_all_exact(box: Box) -> None:
    source = make_folder(box.root)
    outs = [box.tmp / "a", box.tmp / "b"]
    with box.mount("--prefetch-max-files", "20") as mp:
        results: list[int] = []
        readers = [threading.Thread(target=lambda o=o: results.append(copy(mp, source, o).returncode))
                   for o in outs]  # fmt: skip
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(300)
        assert results == [0, 0]
        assert all(same(source, out) for out in outs)
        reversed_names = sorted(os.listdir(mp / "browse" / "many"), reverse=True)
        for name in reversed_names:  # random order: whatever came from where, all exact
            assert (mp / "browse" / "many" / name).read_bytes() == (source / name).read_bytes()
    # at most 20 files per prefetch: 58 small files need 3 or more, never one per file
    assert 4 <= creates(box.server) <= 10


def test_the_file_cache_keeps_within_its_share_of_the_cache(box: Box) -> None:
    source = make_folder(box.root, count=40, size=20_000)  # 800 KB of small files
    with box.mount("--cache-size", "1M", "--browse-cache-share", "0.25") as mp:
        done = copy(mp, source, box.tmp / "out")
        assert done.returncode == 0, done.stderr
        assert same(source, box.tmp / "out")
    kept = sum(p.stat().st_size for p in (box.tmp / "cache" / "files").iterdir())
    assert kept <= 256 << 10


def test_a_file_waiting_for_its_folders_prefetch_says_so(box: Box) -> None:
    source = make_folder(box.root, count=30)
    faults = f"{box.server.url}/_boxzipfs/faults"
    with box.mount() as mp:
        folder = mp / "browse" / "many"
        assert (folder / "f000.txt").read_bytes() == (source / "f000.txt").read_bytes()
        stall = {"stall_after": 1, "stall_seconds": 2}  # the prefetch's stream stalls 2 s at its start
        httpx.put(faults, json=stall, headers=bearer(box.server.token))
        try:
            reader = threading.Thread(target=(folder / "f001.txt").read_bytes)  # makes the prefetch due
            reader.start()
            status = ""
            for _ in range(100):
                status = os.getxattr(folder / "f029.txt", "user.boxzipfs.status").decode()
                if "prefetch" in status:
                    break
                threading.Event().wait(0.05)
            assert "coming in the one download of folder" in status
        finally:
            httpx.put(faults, json={}, headers=bearer(box.server.token))
        reader.join(60)
        done = copy(mp, source, box.tmp / "out")
        assert done.returncode == 0 and same(source, box.tmp / "out"), done.stderr

"""browse/ and archives/: Box by name, over both archive formats of the local server."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from boxzipfs.server.child import LocalServer, start_local_server
from tests.helpers import bearer, boxzipfs, expected_members, zip_contents
from tests.mounting import mounted

pytestmark = pytest.mark.mount
LARGE = 320 << 20  # "files of several hundred MiB"
TTL = 1.0


@dataclass
class World:
    root: Path
    mnt: Path
    server: LocalServer
    format: str
    scratch: Path

    def creates(self) -> int:
        stats = httpx.get(f"{self.server.url}/_boxzipfs/stats", headers=bearer(self.server.token)).json()
        return int(stats["creates"])

    def faults(self, **switches: object) -> None:
        answer = httpx.put(
            f"{self.server.url}/_boxzipfs/faults", json=switches, headers=bearer(self.server.token)
        )
        assert answer.status_code == 200, answer.text


def make_box(root: Path) -> None:
    files = {
        "Projects/plan.txt": b"the plan\n",
        "Projects/ünïcode 100%/nötes.md": "# ünï\n".encode(),
        "Projects/deep/er/data.bin": os.urandom(700_000),
        "Projects/zero.txt": b"",
        "X/in-x.txt": b"x\n",
        "X.zip/in-x-zip.txt": b"x.zip\n",
        "changing/file.txt": b"version one\n",
        "faults/cut.bin": os.urandom(3_000_000),
        "faults/skipped.txt": b"never delivered\n",
        "top.txt": b"top\n",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "Projects" / "empty").mkdir()
    (root / "large").mkdir()
    with (root / "large" / "large.bin").open("wb") as out:
        for _ in range(LARGE // (16 << 20)):
            out.write(os.urandom(16 << 20))


@pytest.fixture(scope="module", params=["stored", "deflate"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp(f"browse-{request.param}")
    root = base / "box"
    root.mkdir()
    make_box(root)
    with start_local_server(root, ["--archive-format", request.param]) as server:
        mnt = base / "mnt"
        args = ["--api-url", server.url, "--state-dir", str(base / "st"), "--cache-dir", str(base / "c")]
        env = {"BOX_ACCESS_TOKEN": server.token}
        # The fault test breaks and skips browse files on purpose.
        allow = [r"download browse/file-\d+ failed: "]
        with mounted(mnt, [*args, "--list-ttl", str(TTL)], base / "log", env, allow=allow):
            yield World(root, mnt, server, request.param, base)


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(map(str, argv)), capture_output=True, text=True, timeout=300, check=False)


def test_listing_both_trees_never_creates_a_download(world: World) -> None:
    before = world.creates()
    for tree in ("browse", "archives"):
        assert run("ls", "-lR", world.mnt / tree).returncode == 0
        assert run("find", world.mnt / tree, "-size", "+0").returncode == 0
        assert run("du", "-s", world.mnt / tree).returncode == 0
    os.stat(world.mnt / "archives" / "Projects.zip")
    assert world.creates() == before


def test_the_trees_show_box_by_name(world: World) -> None:
    assert sorted(os.listdir(world.mnt)) == ["archives", "browse", "by-id"]
    assert sorted(os.listdir(world.mnt / "browse")) == sorted(os.listdir(world.root))
    archives = sorted(os.listdir(world.mnt / "archives"))
    folders = sorted(p.name for p in world.root.iterdir() if p.is_dir())
    # X.zip beside X: the directory of X.zip is X%2Ezip, its archive X.zip.zip (README, names).
    assert archives == sorted(
        [*(n.replace("X.zip", "X%2Ezip") for n in folders), *(f"{n}.zip" for n in folders)]
    )
    assert sorted(os.listdir(world.mnt / "archives" / "Projects")) == [
        "deep", "deep.zip", "empty", "empty.zip", "ünïcode 100%", "ünïcode 100%.zip",
    ]  # fmt: skip
    st = os.stat(world.mnt / "browse" / "Projects" / "deep" / "er" / "data.bin")
    source = os.stat(world.root / "Projects" / "deep" / "er" / "data.bin")
    assert st.st_size == source.st_size and st.st_mtime_ns == source.st_mtime_ns // 10**9 * 10**9


def test_cp_r_of_browse_matches_the_tree_exactly(world: World) -> None:
    out = world.scratch / "copy"
    done = run("cp", "-r", world.mnt / "browse" / "Projects", out)
    assert done.returncode == 0, done.stderr
    diff = run("diff", "-r", world.root / "Projects", out)
    assert diff.returncode == 0, diff.stdout
    mirrored = world.scratch / "rsynced"
    synced = run("rsync", "-a", f"{world.mnt / 'browse' / 'Projects'}/", mirrored)
    assert synced.returncode == 0, synced.stderr
    assert run("diff", "-r", world.root / "Projects", mirrored).returncode == 0
    again = run("rsync", "-a", "--itemize-changes", f"{world.mnt / 'browse' / 'Projects'}/", mirrored)
    assert again.returncode == 0 and again.stdout == ""  # sizes and times from Box: nothing to copy twice


def test_seeks_into_a_large_file_return_the_sources_bytes(world: World) -> None:
    source = world.root / "large" / "large.bin"
    offsets = [LARGE - 100, 0, LARGE // 2 + 12345, 7, LARGE - 1]
    with (world.mnt / "browse" / "large" / "large.bin").open("rb") as mounted_file, source.open("rb") as src:
        for offset in offsets:
            mounted_file.seek(offset)
            src.seek(offset)
            assert mounted_file.read(65536) == src.read(65536), offset
    copy = world.scratch / "large.bin"
    assert (
        run("dd", f"if={world.mnt / 'browse' / 'large' / 'large.bin'}", f"of={copy}", "bs=1M").returncode == 0
    )
    assert run("cmp", copy, source).returncode == 0


def test_folder_archives_hold_the_folder(world: World) -> None:
    data = (world.mnt / "archives" / "Projects.zip").read_bytes()
    assert zip_contents(data) == expected_members(world.root, "Projects")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # the server's format really differs
        info = archive.getinfo("Projects/plan.txt")
        deflated = (zipfile.ZIP_DEFLATED, 0x08) if world.format == "deflate" else (zipfile.ZIP_STORED, 0)
        assert (info.compress_type, info.flag_bits & 0x08) == deflated
    nested = world.mnt / "archives" / "Projects" / "ünïcode 100%.zip"
    assert zip_contents(nested.read_bytes()) == expected_members(world.root, "Projects/ünïcode 100%")
    assert os.stat(world.mnt / "archives" / "Projects.zip").st_size == len(data)  # exact once complete
    tricky = world.mnt / "archives" / "X.zip.zip"
    assert zip_contents(tricky.read_bytes()) == expected_members(world.root, "X.zip")


def test_a_changed_file_is_served_at_its_new_size_after_the_ttl(world: World) -> None:
    path = world.mnt / "browse" / "changing" / "file.txt"
    assert path.read_bytes() == b"version one\n"
    source = world.root / "changing" / "file.txt"
    source.write_bytes(b"version two, longer\n")
    os.utime(source, (time.time() + 5, time.time() + 5))
    time.sleep(TTL + 0.3)
    assert path.stat().st_size == len(b"version two, longer\n")
    assert path.read_bytes() == b"version two, longer\n"


def test_a_broken_stream_and_a_skip_are_eio_with_the_reason(world: World) -> None:
    world.faults(cut_after=100_000)
    try:
        cut = world.mnt / "browse" / "faults" / "cut.bin"
        with pytest.raises(OSError) as raised:
            cut.read_bytes()
        assert raised.value.errno == errno.EIO
        status = json.loads(os.getxattr(cut, "user.boxzipfs.status"))
        assert status["phase"] == "failed" and status["error"]["errno"] == "EIO", status
    finally:
        world.faults()
    world.faults(skip=["faults/skipped.txt"])
    try:
        skipped = world.mnt / "browse" / "faults" / "skipped.txt"
        copied = run("cp", skipped, world.scratch / "skipped.txt")
        assert copied.returncode != 0 and "Input/output error" in copied.stderr
        status = json.loads(os.getxattr(skipped, "user.boxzipfs.status"))
        assert "skipped" in status["error"]["message"], status
    finally:
        world.faults()


def test_every_archive_and_browse_file_carries_its_status(world: World) -> None:
    top = world.mnt / "browse" / "top.txt"
    assert top.read_bytes() == b"top\n"
    shown = run("getfattr", "--only-values", "-n", "user.boxzipfs.status", top)
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["phase"] == "succeeded" and status["size"] == 4 and status["bytes_delivered"] == 4
    assert os.listxattr(top) == ["user.boxzipfs.status"]
    archive = world.mnt / "archives" / "Projects" / "deep.zip"
    archive.read_bytes()
    assert json.loads(os.getxattr(archive, "user.boxzipfs.status"))["phase"] == "succeeded"
    with pytest.raises(OSError) as raised:
        os.getxattr(top, "user.other")
    assert raised.value.errno == errno.ENODATA
    assert os.listxattr(world.mnt / "browse" / "Projects") == []
    for text in (shown.stdout, json.dumps(os.getxattr(archive, "user.boxzipfs.status").decode())):
        assert world.server.token not in text and "/content" not in text


def test_boxzipfs_status_shows_browse_downloads_beside_requests(world: World) -> None:
    (world.mnt / "browse" / "Projects" / "plan.txt").read_bytes()
    (world.mnt / "archives" / "Projects" / "empty.zip").read_bytes()
    listed = boxzipfs("status", world.mnt, "--json")
    assert listed.returncode == 0, listed.stderr
    docs = {doc["name"]: doc for doc in json.loads(listed.stdout)[0]["requests"]}
    plan = docs["browse/Projects/plan.txt"]
    assert plan["phase"] == "succeeded" and plan["bytes_delivered"] == len(b"the plan\n")
    empty_id = str((world.root / "Projects" / "empty").stat().st_ino)
    assert docs[f"by-id/folder-{empty_id}"]["phase"] == "succeeded"  # the folder archive's download
    assert not any(name in ("browse", "archives") for name in docs)
    plain = boxzipfs("status", world.mnt, "--once")
    assert "browse/Projects/plan.txt" in plain.stdout, plain.stdout


def test_browse_and_archives_are_read_only_and_reserved(world: World) -> None:
    for path, code in (
        (world.mnt / "browse" / "new", errno.EROFS),
        (world.mnt / "archives" / "new", errno.EROFS),
        (world.mnt / "browse", errno.EEXIST),
    ):
        with pytest.raises(OSError) as raised:
            os.mkdir(path)
        assert raised.value.errno == code, path
    with pytest.raises(OSError) as raised:
        (world.mnt / "browse" / "top.txt").open("ab")
    assert raised.value.errno == errno.EROFS

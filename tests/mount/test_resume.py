"""Broken streams resumed and verified, over both archive formats of the local server."""

from __future__ import annotations

import errno
import json
import os
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from boxzipfs.server.child import LocalServer, start_local_server
from tests.helpers import bearer, create, file_id
from tests.mount.support import define, folder_items, status
from tests.mounting import mounted

pytestmark = pytest.mark.mount


@dataclass
class World:
    root: Path
    mnt: Path
    server: LocalServer
    http: httpx.Client
    reference: bytes  # the archive of folder "data", fetched directly

    def faults(self, **switches: object) -> None:
        answer = self.http.put(
            f"{self.server.url}/_boxzipfs/faults", json=switches, headers=bearer(self.server.token)
        )
        assert answer.status_code == 200, answer.text

    def creates(self) -> int:
        return int(
            self.http.get(f"{self.server.url}/_boxzipfs/stats", headers=bearer(self.server.token)).json()[
                "creates"
            ]
        )

    def fetch(self) -> bytes:
        created = create(
            self.http, self.server.url, self.server.token, {"items": folder_items(self.root, "data")}
        )
        return self.http.get(created.json()["download_url"]).content


def central_directory_offset(archive: bytes) -> int:
    end = archive.rfind(b"PK\x05\x06")
    offset = struct.unpack("<I", archive[end + 16 : end + 20])[0]
    if offset == 0xFFFFFFFF:
        locator = archive.rfind(b"PK\x06\x06")
        offset = struct.unpack("<Q", archive[locator + 48 : locator + 56])[0]
    return int(offset)


@pytest.fixture(params=["stored", "deflate"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    root = tmp_path / "box"
    for index, size in enumerate((1_500_000, 700_000, 3)):
        path = root / "data" / f"sub{index % 2}" / f"file{index}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    (root / "data" / "empty").mkdir()
    with (
        start_local_server(root, ["--archive-format", request.param, "--chunk-size", "64K"]) as server,
        httpx.Client(timeout=60) as http,
    ):
        world = World(root, tmp_path / "mnt", server, http, b"")
        world.reference = world.fetch()
        args = ["--api-url", server.url, "--state-dir", str(tmp_path / "st"), "--resume-attempts", "2"]
        with mounted(world.mnt, args, tmp_path / "log", {"BOX_ACCESS_TOKEN": server.token}):
            yield world


def read_request(world: World, name: str, **options: object) -> tuple[bytes | OSError, dict[str, object]]:
    request = define(world.mnt, name, {"items": folder_items(world.root, "data"), **options})
    try:
        data: bytes | OSError = (request / "request.zip").read_bytes()
    except OSError as exc:
        data = exc
    return data, status(request)


def test_identical_content_gives_identical_archives(world: World) -> None:
    """Resuming rests on this: the server builds the same bytes for the same content."""
    assert world.fetch() == world.reference


@pytest.mark.parametrize("where", ["first bytes", "middle", "central directory", "last byte"])
def test_a_stream_cut_once_is_resumed_byte_exact(world: World, where: str) -> None:
    size = len(world.reference)
    offset = {
        "first bytes": 10,
        "middle": size // 2,
        "central directory": central_directory_offset(world.reference) + 30,
        "last byte": size - 1,
    }[where]
    world.faults(cut_after=offset, cut_times=1)
    before = world.creates()
    data, doc = read_request(world, "cut")
    assert data == world.reference
    assert doc["phase"] == "succeeded" and doc["resumes"] == 1, doc
    assert world.creates() == before + 2


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_a_cut_on_every_attempt_fails_after_the_bound(world: World) -> None:
    world.faults(cut_after=len(world.reference) // 2)
    before = world.creates()
    data, doc = read_request(world, "always")
    assert isinstance(data, OSError) and data.errno == errno.EIO
    assert doc["phase"] == "failed" and doc["resumes"] == 2, doc
    assert "after 2 resumes" in doc["error"]["message"]  # type: ignore[index]
    assert world.creates() == before + 3


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_resume_false_keeps_a_broken_stream_an_error(world: World) -> None:
    world.faults(cut_after=1000, cut_times=1)
    data, doc = read_request(world, "no-resume", resume=False)
    assert isinstance(data, OSError) and data.errno == errno.EIO
    assert doc["resumes"] == 0 and doc["phase"] == "failed", doc


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_content_changed_before_the_resume_is_eio_never_spliced(world: World) -> None:
    """The first stream is cut at 1 MB; the resume's create waits out a 429 while the
    first file changes on disk; the new archive differs, so the read fails."""
    world.faults(cut_after=1_000_000, cut_times=1, throttle=2_000_000)
    request = define(world.mnt, "changed", {"items": folder_items(world.root, "data")})
    result: list[bytes | OSError] = []

    def read() -> None:
        try:
            result.append((request / "request.zip").read_bytes())
        except OSError as exc:
            result.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 10
    while status(request)["phase"] != "streaming" and time.monotonic() < deadline:
        time.sleep(0.02)
    world.faults(create_errors=[{"status": 429, "retry_after": 1.5}])  # the running stream keeps its cut
    while not status(request)["resumes"] and time.monotonic() < deadline:
        time.sleep(0.02)
    target = world.root / "data" / "sub0" / "file0.bin"
    target.write_bytes(os.urandom(target.stat().st_size))
    reader.join(30)
    assert len(result) == 1 and isinstance(result[0], OSError) and result[0].errno == errno.EIO, status(
        request
    )
    doc = status(request)
    assert doc["phase"] == "failed" and doc["error"]["type"] == "ArchiveChanged", doc  # type: ignore[index]


def test_a_browse_file_cut_once_is_resumed_byte_exact(world: World) -> None:
    world.faults(cut_after=400_000, cut_times=1)
    path = world.mnt / "browse" / "data" / "sub0" / "file0.bin"
    assert path.read_bytes() == (world.root / "data" / "sub0" / "file0.bin").read_bytes()
    doc = json.loads(os.getxattr(path, "user.boxzipfs.status"))
    assert doc["resumes"] == 1 and doc["phase"] == "succeeded", doc
    assert file_id(world.root, "data/sub0/file0.bin") == doc["box_file_id"]

"""#18.2: a copy by a tool that trusts st_size (rsync, tar) of an archive not yet complete is
the exact archive or a failure, never an empty or short file with exit 0; tools known to read
to the end (cp, cat, dd, Python) still stream; ls -l, find and du start no download."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import bearer, expected_members, zip_contents
from tests.mount.support import folder_items

pytestmark = pytest.mark.mount

Mount = Callable[..., Path]


def creates(server_url: str, token: str) -> int:
    return int(httpx.get(f"{server_url}/_boxzipfs/stats", headers=bearer(token)).json()["creates"])


def run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, check=False)


def test_rsync_of_archives_copies_each_folder_archive_whole(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, start_server: Callable[..., object], tmp_path: Path
) -> None:
    root, _ = tree
    server = start_server(root, "--throttle", "2M")  # archives still streaming when rsync opens them
    mp = mount("--api-url", server.url, env={"BOX_ACCESS_TOKEN": server.token})  # type: ignore[attr-defined]
    before = creates(server.url, server.token)  # type: ignore[attr-defined]
    for command in (["ls", "-lR"], ["find"], ["du", "-s"]):
        assert run(*command, mp / "archives").returncode == 0
    assert creates(server.url, server.token) == before  # type: ignore[attr-defined]
    out = tmp_path / "out"
    done = run("rsync", "-a", f"{mp / 'archives'}/", out)
    assert done.returncode == 0, done.stderr
    for folder in ("docs", "photos"):
        assert zip_contents((out / f"{folder}.zip").read_bytes()) == expected_members(root, folder)


def test_rsync_and_tar_of_a_streaming_request_zip_get_the_whole_archive(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, start_server: Callable[..., object], tmp_path: Path
) -> None:
    root, _ = tree
    server = start_server(root, "--throttle", "1M")
    mp = mount("--api-url", server.url, env={"BOX_ACCESS_TOKEN": server.token})  # type: ignore[attr-defined]
    body = json.dumps({"items": folder_items(root, "docs")})
    for name in ("r", "t"):
        (mp / name).mkdir()
        (mp / name / "request.json").write_text(body)
    done = run("rsync", mp / "r" / "request.zip", tmp_path / "r.zip")
    assert done.returncode == 0, done.stderr
    assert zip_contents((tmp_path / "r.zip").read_bytes()) == expected_members(root, "docs")
    # GNU tar takes the size from a stat before it opens the file (0 while streaming), then
    # checks it again after reading: it fails loudly ("file changed as we read it") or is exact.
    tarred = subprocess.run(
        ["tar", "cf", str(tmp_path / "t.tar"), "request.zip"],
        cwd=mp / "t", capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if tarred.returncode == 0:
        with tarfile.open(tmp_path / "t.tar") as archive:
            member = archive.extractfile("request.zip")
            assert member is not None
            assert zip_contents(member.read()) == expected_members(root, "docs")
    else:
        assert "changed as we read it" in tarred.stderr, tarred.stderr


@pytest.mark.parametrize("reader", ["cp", "cat", "dd", "python"])
def test_readers_that_read_to_the_end_still_stream(
    reader: str, tree: tuple[Path, dict[str, bytes]], mount: Mount, tmp_path: Path
) -> None:
    root, _ = tree
    mp = mount("--local", str(root))
    (mp / "s").mkdir()
    (mp / "s" / "request.json").write_text(json.dumps({"items": folder_items(root, "docs")}))
    archive, out = mp / "s" / "request.zip", tmp_path / "out.zip"
    commands = {
        "cp": f"cp {archive} {out}",
        "cat": f"cat {archive} > {out}",
        "dd": f"dd if={archive} of={out} bs=64k status=none",
        "python": f"python3 -c 'import shutil; shutil.copyfile(\"{archive}\", \"{out}\")'",
    }
    # stat inside the reader's own process sees the stream's unknown size: it was not made to wait
    done = subprocess.run(
        ["sh", "-c", commands[reader]], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert zip_contents(out.read_bytes()) == expected_members(root, "docs")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert os.stat(archive).st_size == out.stat().st_size  # now complete: the exact size


def test_a_streaming_readers_fstat_does_not_wait_and_another_programs_stat_starts_nothing(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, start_server: Callable[..., object]
) -> None:
    root, _ = tree
    server = start_server(root, "--throttle", "100K")  # about 4 s for the docs archive
    mp = mount("--api-url", server.url, env={"BOX_ACCESS_TOKEN": server.token})  # type: ignore[attr-defined]
    (mp / "s").mkdir()
    (mp / "s" / "request.json").write_text(json.dumps({"items": folder_items(root, "docs")}))
    with (mp / "s" / "request.zip").open("rb") as handle:  # this test's own process: python
        assert os.fstat(handle.fileno()).st_size == 0  # the size is not known yet, and not waited for
        assert json.loads((mp / "s" / "status.json").read_text())["phase"] == "streaming"
        shown = run("stat", "-c", "%s", mp / "s" / "request.zip")  # another program, no handle
        assert shown.stdout.strip() == "0"
        data = handle.read()
    assert zip_contents(data) == expected_members(root, "docs")

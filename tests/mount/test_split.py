"""Requests past Box's limits become ONE archive, over both archive formats of the local server."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from boxzipfs.server.child import start_local_server
from tests.helpers import bearer, create, file_id, zip_contents
from tests.mount.support import define, status
from tests.mounting import mounted

pytestmark = pytest.mark.mount
FILES = 250


def make_tree(root: Path) -> None:
    """250 files in nested folders, names repeated across folders, an empty folder, unicode."""
    for index in range(FILES):
        folder = root / "big" / f"d{index % 5}" / ("ünï" if index % 3 else "deep/er")
        folder.mkdir(parents=True, exist_ok=True)
        name = "same.txt" if index % 25 == 0 else f"f{index:03d}.bin"
        (folder / name if not (folder / name).exists() else folder / f"x{index}.bin").write_bytes(
            os.urandom(100 + index * 37)
        )
    (root / "big" / "empty").mkdir()
    (root / "top.txt").write_bytes(b"a file item beside the folder\n")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("split") / "box"
    make_tree(path)
    return path


def body(root: Path) -> dict[str, object]:
    return {
        "items": [
            {"type": "folder", "id": file_id(root, "big")},
            {"type": "file", "id": file_id(root, "top.txt")},
        ]
    }


@pytest.fixture(scope="module", params=["stored", "deflate"])
def reference(request: pytest.FixtureRequest, root: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """The archive of the whole request from a server without the limits."""
    with start_local_server(root, ["--archive-format", request.param]) as server, httpx.Client() as http:
        created = create(http, server.url, server.token, body(root)).json()
        yield request.param, zip_contents(http.get(created["download_url"]).content)


@pytest.mark.parametrize("limit", [["--max-files", "100"], ["--max-bytes", "400000"]])
def test_a_request_past_the_limits_is_one_archive(
    root: Path, reference: tuple[str, dict[str, bytes]], limit: list[str], tmp_path: Path
) -> None:
    archive_format, expected = reference
    assert sum(1 for name in expected if not name.endswith("/")) == FILES + 1
    with start_local_server(root, ["--archive-format", archive_format, *limit]) as server:
        with httpx.Client() as http:  # the server really refuses the whole request
            refused = create(http, server.url, server.token, body(root))
            assert refused.status_code == 400 and "exceeded_limit" in refused.json()["code"]
        args = ["--api-url", server.url, "--state-dir", str(tmp_path / "st"),
                "--cache-dir", str(tmp_path / "c")]  # fmt: skip
        with mounted(tmp_path / "mnt", args, tmp_path / "log", {"BOX_ACCESS_TOKEN": server.token}):
            request = define(tmp_path / "mnt", "all", body(root))
            shutil.copyfile(request / "request.zip", tmp_path / "all.zip")
            doc = status(request)
            stats = httpx.get(f"{server.url}/_boxzipfs/stats", headers=bearer(server.token)).json()
    assert zip_contents(tmp_path / "all.zip") == expected  # every path and byte of one archive
    assert doc["phase"] == "succeeded", doc
    split = doc["split"]
    assert isinstance(split, dict) and split["files_done"] == split["files_total"] == FILES + 1, split
    assert split["parts_done"] >= 3 and split["part_streaming"] is None
    # Box's counts in status.json are the whole archive's, not the last part's (#18.10)
    counts = (doc["total_file_count"], doc["downloaded_file_count"], doc["state"])
    assert counts == (FILES + 1, FILES + 1, "succeeded")
    assert stats["creates"] == split["parts_done"]  # the server counts only the creates it accepted
    for tool in (["unzip", "-tq"], ["7z", "t"], ["bsdtar", "-tf"]):
        checked = subprocess.run([*tool, str(tmp_path / "all.zip")], capture_output=True, check=False)
        assert checked.returncode == 0, (tool, checked.stdout[-500:], checked.stderr[-500:])


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_split_false_keeps_the_refusal(root: Path, tmp_path: Path) -> None:
    with start_local_server(root, ["--max-files", "100"]) as server:
        args = ["--api-url", server.url, "--state-dir", str(tmp_path / "st")]
        with mounted(tmp_path / "mnt", args, tmp_path / "log", {"BOX_ACCESS_TOKEN": server.token}):
            request = define(tmp_path / "mnt", "whole", {**body(root), "split": False})
            with pytest.raises(OSError) as raised:
                (request / "request.zip").read_bytes()
            assert raised.value.errno == errno.EFBIG
            assert status(request)["split"] is None


def test_a_part_cut_once_resumes_and_the_joined_archive_is_exact(
    root: Path, reference: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    archive_format, expected = reference
    with start_local_server(root, ["--archive-format", archive_format, "--max-files", "100"]) as server:
        answer = httpx.put(
            f"{server.url}/_boxzipfs/faults",
            json={"cut_after": 30_000, "cut_times": 2},  # the first two part streams break
            headers=bearer(server.token),
        )
        assert answer.status_code == 200
        args = ["--api-url", server.url, "--state-dir", str(tmp_path / "st"),
                "--cache-dir", str(tmp_path / "c")]  # fmt: skip
        with mounted(tmp_path / "mnt", args, tmp_path / "log", {"BOX_ACCESS_TOKEN": server.token}):
            request = define(tmp_path / "mnt", "all", body(root))
            shutil.copyfile(request / "request.zip", tmp_path / "all.zip")
            doc = status(request)
    assert zip_contents(tmp_path / "all.zip") == expected
    assert doc["phase"] == "succeeded" and doc["resumes"] == 2, doc

"""#18.6: after a change, old bytes are never served with exit 0: a browse file whose
listing changed (even with the same time) drops its cached pages; a re-read of request.zip
says which archive it gets, and touching request.json (or boxzipfs request refresh) asks
for a fresh one."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import boxzipfs, expected_members, zip_contents
from tests.mount.support import folder_items, status

pytestmark = pytest.mark.mount

Mount = Callable[..., Path]
TTL = 0.5


@pytest.mark.parametrize("same_time", [True, False])
def test_a_changed_browse_file_never_serves_its_cached_old_bytes(
    same_time: bool, tree: tuple[Path, dict[str, bytes]], mount: Mount
) -> None:
    root, _ = tree
    source = root / "docs" / "readme.txt"
    mp = mount("--local", str(root), "--list-ttl", str(TTL))
    path = mp / "browse" / "docs" / "readme.txt"
    old = source.read_bytes()
    assert path.read_bytes() == old
    assert path.read_bytes() == old  # now in the page cache, served from it
    stamp = source.stat()
    new = b"HELLO BOX, a new and longer version\n"
    source.write_bytes(new)
    if same_time:  # Box's modified_at has whole seconds: a change can keep it
        os.utime(source, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    time.sleep(TTL + 0.3)
    assert path.stat().st_size == len(new)
    assert path.read_bytes() == new
    assert path.read_bytes() == new


def test_a_reread_names_its_archive_and_touching_request_json_asks_for_a_fresh_one(
    tree: tuple[Path, dict[str, bytes]], mount: Mount
) -> None:
    root, _ = tree
    mp = mount("--local", str(root), "--reuse-seconds", "600")
    (mp / "r").mkdir()
    (mp / "r" / "request.json").write_text(json.dumps({"items": folder_items(root, "docs")}))
    first = (mp / "r" / "request.zip").read_bytes()
    shown = status(mp / "r")
    assert shown["next_read"] == "reuses this archive"
    assert shown["reused_until"] is not None and shown["finished_at"] is not None
    xattr = json.loads(os.getxattr(mp / "r" / "request.zip", "user.boxzipfs.status"))
    assert xattr["next_read"] == "reuses this archive"
    (root / "docs" / "added.txt").write_bytes(b"new on Box\n")
    assert (mp / "r" / "request.zip").read_bytes() == first  # within the reuse window, by design
    os.utime(mp / "r" / "request.json")  # touch: the next read creates a new archive
    assert status(mp / "r")["next_read"] == "creates a new archive"
    assert zip_contents((mp / "r" / "request.zip").read_bytes()) == expected_members(root, "docs")
    (root / "docs" / "added2.txt").write_bytes(b"newer\n")
    refreshed = boxzipfs("request", "refresh", mp, "r")
    assert refreshed.returncode == 0, refreshed.stderr
    assert zip_contents((mp / "r" / "request.zip").read_bytes()) == expected_members(root, "docs")

"""BrowseTree: listings cached for the TTL, shared by concurrent lookups, paths resolved by name."""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import pytest

from boxzipfs.download.manager import DownloadManager
from boxzipfs.drive.browse import BrowseTree
from boxzipfs.drive.definitions import DefinitionStore
from boxzipfs.drive.drive import Drive
from boxzipfs.drive.errnos import errno_for
from boxzipfs.errors import ArchiveIncomplete, Refused
from boxzipfs.models import FolderEntry

TREE = {
    "0": [
        FolderEntry("folder", "1", "Finance", 0, "2026-01-02T03:04:05-08:00"),
        FolderEntry("folder", "2", "X.zip", 0, None),
        FolderEntry("file", "3", "a/b", 7, "2026-01-02T03:04:05Z"),
        FolderEntry("web_link", "4", "link", None, None),
    ],
    "1": [FolderEntry("file", "10", "Q1.pdf", 1234, "2026-01-02T11:04:05+00:00")],
    "2": [],
}


class Lister:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, folder_id: str) -> Iterable[FolderEntry]:
        self.calls.append(folder_id)
        time.sleep(0.05)
        return list(TREE[folder_id])


def test_paths_resolve_by_name_with_box_times() -> None:
    tree = BrowseTree(Lister(), ttl=60)
    q1 = tree.resolve(["Finance", "Q1.pdf"])
    assert (q1.kind, q1.id, q1.size) == ("file", "10", 1234)
    assert q1.mtime_ns == 1767351845 * 10**9  # 2026-01-02T11:04:05Z
    assert tree.resolve(["Finance"]).mtime_ns == q1.mtime_ns  # -08:00 honoured
    assert tree.resolve(["a%2Fb"]).id == "3"
    assert sorted(tree.listing("0").files) == ["Finance", "X.zip", "a%2Fb"]  # no web links
    assert tree.resolve_archives(["X.zip.zip"]).id == "2"
    assert tree.resolve_archives(["X%2Ezip"]).id == "2"
    for parts, code in ((["nope"], errno.ENOENT), (["a%2Fb", "x"], errno.ENOTDIR)):
        with pytest.raises(Refused) as raised:
            tree.resolve(parts)
        assert raised.value.errno == code
    with pytest.raises(Refused):
        tree.resolve_archives(["Finance.zip", "Q1.pdf"])


def test_listings_are_cached_for_the_ttl_and_fetched_once_by_concurrent_lookups() -> None:
    lister = Lister()
    tree = BrowseTree(lister, ttl=0.3)
    threads = [threading.Thread(target=tree.resolve, args=(["Finance", "Q1.pdf"],)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert lister.calls == ["0", "1"]
    tree.resolve(["Finance"])
    assert lister.calls == ["0", "1"]
    time.sleep(0.35)
    tree.resolve(["Finance"])
    assert lister.calls == ["0", "1", "0"]


def test_a_file_listed_without_a_size_is_refused_never_read_as_empty(tmp_path: Path) -> None:
    """A server that ignores ``fields`` gives no size: reading must fail (EIO), not copy 0 bytes."""
    tree = BrowseTree(lambda folder_id: [FolderEntry("file", "5", "nosize.bin", None, None)], ttl=60)
    entry = tree.resolve(["nosize.bin"])
    assert entry.size is None
    drive = Drive(DefinitionStore(tmp_path), cast(DownloadManager, None), browse=tree)
    with pytest.raises(ArchiveIncomplete, match="gave no size"):
        drive.open_file(entry, "browse/nosize.bin")
    assert errno_for(ArchiveIncomplete("x")) == errno.EIO

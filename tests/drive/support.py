"""A MountView over a :class:`tests.fakebox.FakeBox`, built as the mount builds it, without FUSE."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from boxzipfs.download.filecache import FileCache
from boxzipfs.download.manager import DownloadManager, ManagerSettings
from boxzipfs.download.prefetch import Prefetcher, PrefetchSettings
from boxzipfs.drive.browse import BrowseTree
from boxzipfs.drive.definitions import DefinitionStore
from boxzipfs.drive.drive import Drive
from boxzipfs.drive.view import MountView
from boxzipfs.options import DEFAULT_STREAMING_READERS
from tests.fakebox import FakeBox

OWNER = (1000, 1000)


@contextlib.contextmanager
def mount_view(
    tmp_path: Path,
    box: FakeBox,
    *,
    wait_for_size: bool = False,
    prefetch_after: int = 0,
    list_ttl: float = 60.0,
    files_budget: int = 64 << 20,
    browse: bool = True,
    health: Callable[[], dict[str, object]] | None = None,
    api_usage: Callable[[], dict[str, object]] | None = None,
) -> Iterator[MountView]:
    """The view of a mount of ``box``; its downloads are shut down at the end."""
    files = FileCache(tmp_path / "cache" / "files", files_budget) if files_budget else None
    manager = DownloadManager(box, ManagerSettings(cache_dir=tmp_path / "cache", files=files))
    prefetcher = None
    if files is not None and prefetch_after:
        prefetcher = Prefetcher(box, manager.slots, files, PrefetchSettings(after=prefetch_after))
    tree = BrowseTree(box.list_folder, list_ttl) if browse else None
    drive = Drive(DefinitionStore(tmp_path / "state"), manager, wait_for_size, tree, prefetcher)
    try:
        yield MountView(drive, OWNER, DEFAULT_STREAMING_READERS, api_usage, health)
    finally:
        if prefetcher is not None:
            prefetcher.close()
        manager.shutdown()

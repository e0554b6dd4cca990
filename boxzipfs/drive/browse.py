"""The Box account by name: folder listings, cached, and paths resolved through them.

Only ``GET /2.0/folders/{id}/items`` is used here (every page, with the fields
name, size and modified_at); nothing in this module creates a zip download, so
``ls -lR``, ``find`` and ``du`` cost listings only. Listings are kept for
``ttl`` seconds (cachetools' TTLCache): a file changed on Box shows its new size
and time once its folder's listing is refreshed.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cachetools import TTLCache

from boxzipfs.drive.names import archive_name, file_name, folder_dir_name
from boxzipfs.errors import Refused
from boxzipfs.models import FolderEntry

ROOT_FOLDER = "0"
BROWSE, ARCHIVES = "browse", "archives"  # the trees' names at the top of the mount
STATUS_XATTR = "user.boxzipfs.status"  # on every archive and browse file: its live status
DOWNLOADS_XATTR = "user.boxzipfs.downloads"  # on browse/: the statuses of its files read lately


@dataclass(frozen=True)
class BoxEntry:
    """A Box file or folder as the browse tree shows it."""

    kind: str  # "file" or "folder"
    id: str
    name: str  # Box's name
    size: int | None  # None: the listing gave none (a server that ignores ``fields``)
    mtime_ns: int
    sha1: str | None = None  # Box's SHA-1 of a file's bytes: every copy served is checked against it
    parent_id: str = ""  # the folder it was listed in (a folder's files are prefetched together)


@dataclass(frozen=True)
class Listing:
    """One folder's items under the names each tree shows them by."""

    files: dict[str, BoxEntry]  # browse/: file names of files and folders
    dirs: dict[str, BoxEntry]  # archives/: directory names of subfolders
    archives: dict[str, BoxEntry]  # archives/: NAME.zip of subfolders

    @classmethod
    def of(cls, entries: Iterable[FolderEntry], listed_ns: int, folder_id: str = "") -> Listing:
        files: dict[str, BoxEntry] = {}
        dirs: dict[str, BoxEntry] = {}
        archives: dict[str, BoxEntry] = {}
        for entry in entries:
            if entry.type not in ("file", "folder"):
                continue  # web links have no bytes
            size = entry.size if entry.type == "file" else 0
            sha1 = entry.sha1 if entry.type == "file" else None
            item = BoxEntry(
                entry.type, entry.id, entry.name, size, entry.modified_ns or listed_ns, sha1, folder_id
            )
            files[file_name(entry.name)] = item
            if entry.type == "folder":
                dirs[folder_dir_name(entry.name)] = item
                archives[archive_name(entry.name)] = item
        return cls(files, dirs, archives)


class BrowseTree:
    """Folder listings by ID, cached for ``ttl`` seconds, and name paths resolved through them."""

    def __init__(self, list_folder: Callable[[str], Iterable[FolderEntry]], ttl: float) -> None:
        self._list_folder = list_folder
        self._cache: TTLCache[str, Listing] = TTLCache(maxsize=4096, ttl=max(ttl, 0.001))
        # Guards _cache and _fetching (never held during a listing).
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}
        self.root = BoxEntry("folder", ROOT_FOLDER, "", 0, time.time_ns())

    def forget(self) -> int:
        """Drop every cached listing (SIGHUP: a tree changed on Box shows at once); how many."""
        with self._lock:
            count = len(self._cache)
            self._cache.clear()
        return count

    def listing(self, folder_id: str) -> Listing:
        """The folder's items (one fetch at a time per folder; concurrent lookups share it)."""
        with self._lock:
            cached = self._cache.get(folder_id)
            if cached is not None:
                return cached
            fetching = self._fetching.setdefault(folder_id, threading.Lock())
        with fetching:
            with self._lock:
                cached = self._cache.get(folder_id)
            if cached is not None:
                return cached
            listing = Listing.of(self._list_folder(folder_id), time.time_ns(), folder_id)
            with self._lock:
                self._cache[folder_id] = listing
                self._fetching.pop(folder_id, None)
            return listing

    def resolve(self, parts: list[str]) -> BoxEntry:
        """The entry at ``browse/PARTS...``; ENOENT if any name is not there."""
        entry = self.root
        for part in parts:
            if entry.kind != "folder":
                raise Refused(errno.ENOTDIR, f"{entry.name} is a file")
            found = self.listing(entry.id).files.get(part)
            if found is None:
                raise Refused(errno.ENOENT, "no such file or folder on Box")
            entry = found
        return entry

    def resolve_archives(self, parts: list[str]) -> BoxEntry:
        """The folder at ``archives/PARTS...`` (a directory there), or ``archives/.../NAME.zip``."""
        entry = self.root
        for index, part in enumerate(parts):
            listing = self.listing(entry.id)
            last = index == len(parts) - 1
            found = listing.archives.get(part) if last and part.endswith(".zip") else listing.dirs.get(part)
            if found is None:
                raise Refused(errno.ENOENT, "no such folder on Box")
            entry = found
        return entry

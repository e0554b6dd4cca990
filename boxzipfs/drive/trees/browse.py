"""browse/: Box by name, folders as directories and files as files.

A file's size and time are its listing's, exact before any download, so it is an
ordinary file the page cache may keep; reading it fetches it out of its own zip
(or the file cache) as long as the listing shows the same version.
"""

from __future__ import annotations

import errno
import json

from boxzipfs.drive.browse import DOWNLOADS_XATTR, STATUS_XATTR, BoxEntry
from boxzipfs.drive.openfiles import ArchiveFile, Entry, OpenFile, Snapshot
from boxzipfs.drive.trees.base import At, Xattrs
from boxzipfs.drive.trees.mirror import BoxMirror
from boxzipfs.errors import Refused

XATTR_MAX = 65536  # the kernel's limit for one xattr value


class Browse(BoxMirror):
    """The tree under browse/."""

    def resolve(self, at: At) -> BoxEntry:
        return self.listings.resolve(list(at.parts))

    def lookup(self, at: At) -> Entry:
        entry = self.resolve(at)
        if entry.kind == "folder":
            return Entry(True, 0o555, 0, entry.mtime_ns)
        return Entry(False, 0o444, entry.size or 0, entry.mtime_ns)

    def listdir(self, at: At) -> list[str]:
        entry = self.resolve(at)
        if entry.kind != "folder":
            raise Refused(errno.ENOTDIR, "not a folder")
        return list(self.listings.listing(entry.id).files)

    def open_read(self, at: At, caller: int | None) -> OpenFile:
        """A file unpacked from its own zip, with the listing's exact size."""
        entry = self.resolve(at)
        if entry.kind == "folder":
            raise Refused(errno.EISDIR, "a folder")
        # An ordinary file the page cache may keep, as long as the listing shows the same
        # version (a changed one drops the pages at open).
        fixed = Entry(False, 0o444, entry.size or 0, entry.mtime_ns)
        if entry.size == 0:
            empty = Snapshot(b"")
            empty.keep_cache, empty.direct_io = True, False
            return empty
        reader = self.drive.open_file(entry, at.path.lstrip("/"))
        return self.opener.cache_only_same(at.path, ArchiveFile(reader, fixed))

    def xattrs(self, at: At) -> Xattrs:
        if not at.parts:
            return {DOWNLOADS_XATTR: self._downloads}
        entry = self.resolve(at)
        if entry.kind == "folder":
            return {}
        return {STATUS_XATTR: lambda: self.drive.file_status(entry, at.path.lstrip("/"))}

    def _downloads(self) -> bytes:
        """The status of the browse files read lately, newest last, within an xattr's 64 KiB."""
        docs = self.drive.browse_statuses()
        while True:
            data = json.dumps(docs).encode()
            if len(data) <= XATTR_MAX or not docs:
                return data
            docs = docs[1:]

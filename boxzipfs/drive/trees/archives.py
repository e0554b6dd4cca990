"""archives/: each Box folder as one zip, ``NAME.zip``, beside ``NAME/`` to descend into.

``NAME.zip`` is the folder's by-id download: the same archive, status and reuse as
``by-id/folder-ID/request.zip``.
"""

from __future__ import annotations

import errno

from boxzipfs.drive.browse import STATUS_XATTR, BoxEntry
from boxzipfs.drive.names import ARCHIVE_SUFFIX
from boxzipfs.drive.openfiles import Entry, OpenFile
from boxzipfs.drive.trees.base import At, Xattrs
from boxzipfs.drive.trees.mirror import BoxMirror
from boxzipfs.errors import Refused


def is_archive(at: At) -> bool:
    return bool(at.parts) and at.parts[-1].endswith(ARCHIVE_SUFFIX)


class Archives(BoxMirror):
    """The tree under archives/."""

    def resolve(self, at: At) -> BoxEntry:
        return self.listings.resolve_archives(list(at.parts))

    def lookup(self, at: At) -> Entry:
        entry = self.resolve(at)
        if is_archive(at):
            size, mtime_ns = self.drive.archive_attributes(self.drive.folder_key(entry), may_wait=False)
            return Entry(False, 0o444, size, mtime_ns)
        return Entry(True, 0o555, 0, entry.mtime_ns)

    def listdir(self, at: At) -> list[str]:
        entry = self.resolve(at)
        if is_archive(at):
            raise Refused(errno.ENOTDIR, "not a folder")
        listing = self.listings.listing(entry.id)
        return [*listing.dirs, *listing.archives]

    def open_read(self, at: At, caller: int | None) -> OpenFile:
        entry = self.resolve(at)
        if not is_archive(at):
            raise Refused(errno.EISDIR, "a folder")
        return self.opener.archive(at.path, self.drive.open_archive(self.drive.folder_key(entry)), caller)

    def xattrs(self, at: At) -> Xattrs:
        entry = self.resolve(at)
        if not is_archive(at):
            return {}
        return {STATUS_XATTR: lambda: self.drive.status(self.drive.folder_key(entry))}

"""by-id/: a request directory for each Box folder or file, by its ID, with no definition.

``by-id/folder-ID`` and ``by-id/file-ID`` exist for any ID; they are listed once used.
Read-only, except that touching a file asks for a fresh archive, as in a request directory.
"""

from __future__ import annotations

import errno

from boxzipfs.drive.openfiles import OpenFile
from boxzipfs.drive.trees.base import At, ReadOnlyTree
from boxzipfs.drive.trees.requestdirs import REQUEST_JSON, RequestDirs
from boxzipfs.errors import Refused

BY_ID_READ_ONLY = "by-id/ is read-only: define a request directory to choose items"


class ById(RequestDirs, ReadOnlyTree):
    """The tree under by-id/."""

    read_only = BY_ID_READ_ONLY
    by_id = True
    dir_mode = 0o555
    definition_mode = 0o444

    def own_names(self) -> list[str]:
        return self.drive.by_id_names()

    def open_read(self, at: At, caller: int | None) -> OpenFile:
        where = self.parse(at)
        if where.leaf is None:
            raise Refused(errno.EISDIR, "a directory")
        key = self.existing(where)
        if where.leaf not in self.leaves(key):
            raise Refused(errno.ENOENT, "no such file")
        return self.open_output(at, key, where.leaf, caller)

    def touch(self, at: At) -> None:
        """utimens on a file: accepted; on request.json it asks for a fresh archive."""
        where = self.parse(at)
        if where.key is None or where.leaf is None:
            self.refuse()
        self.lookup(at)
        if where.leaf == REQUEST_JSON:
            self.drive.refresh(where.key)

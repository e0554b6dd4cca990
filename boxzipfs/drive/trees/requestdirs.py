"""What a request directory shows, for the user's requests and for by-id/ alike.

A directory holds ``status.json`` and, once defined, ``request.json`` and
``request.zip``. :class:`RequestDirs` answers the reads; the two trees add their
own writes (or none) and whatever else a directory may hold.
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass

from boxzipfs.drive.browse import STATUS_XATTR
from boxzipfs.drive.drive import Drive, RequestKey
from boxzipfs.drive.openfiles import Entry, Opener, OpenFile, Snapshot
from boxzipfs.drive.trees.base import At, Parts, Xattrs
from boxzipfs.errors import Refused

REQUEST_JSON, REQUEST_ZIP, STATUS_JSON = "request.json", "request.zip", "status.json"
OUTPUTS = (REQUEST_ZIP, STATUS_JSON)  # made by the mount, never written


@dataclass(frozen=True)
class RequestPath:
    """A path in a tree of request directories: the tree itself (``key`` None), a request
    directory (``leaf`` None), or a name in one (which may not exist: create's concern)."""

    key: RequestKey | None = None
    leaf: str | None = None

    @classmethod
    def parse(cls, parts: Parts, by_id: bool) -> RequestPath:
        if not parts:
            return cls()
        if len(parts) > 2:
            raise Refused(errno.ENOENT, "no such file")
        return cls(RequestKey(parts[0], by_id), parts[1] if len(parts) == 2 else None)


class RequestDirs:
    """The reads of a tree of request directories; ``by_id`` says which tree."""

    drive: Drive
    opener: Opener
    by_id = False
    dir_mode = 0o755  # a request directory's mode
    definition_mode = 0o644

    def parse(self, at: At) -> RequestPath:
        return RequestPath.parse(at.parts, self.by_id)

    def existing(self, where: RequestPath) -> RequestKey:
        """The request directory ``where`` is in; ENOENT if there is none."""
        if where.key is None or not self.drive.exists(where.key):
            raise Refused(errno.ENOENT, "no such request")
        return where.key

    def leaves(self, key: RequestKey) -> list[str]:
        """The files the mount makes in a request directory."""
        if self.drive.spec(key) is None:
            return [STATUS_JSON]
        return [REQUEST_JSON, REQUEST_ZIP, STATUS_JSON]

    def other_entry(self, key: RequestKey, leaf: str) -> Entry:
        """A name the mount does not make (the requests tree holds more); ENOENT here."""
        raise Refused(errno.ENOENT, "no such file")

    def names_in(self, key: RequestKey) -> list[str]:
        """A request directory's listing."""
        return self.leaves(key)

    def own_entry(self) -> Entry:
        """The tree's own directory."""
        return Entry(True, 0o755)

    def own_names(self) -> list[str]:
        raise NotImplementedError

    def lookup(self, at: At) -> Entry:
        """A stat never starts a download (except of a request that asks to wait for its
        size) nor waits for one."""
        where = self.parse(at)
        if where.key is None:
            return self.own_entry()
        key = self.existing(where)
        if where.leaf is None:
            return Entry(True, self.dir_mode)
        if where.leaf not in self.leaves(key):
            return self.other_entry(key, where.leaf)
        if where.leaf == REQUEST_JSON:
            data, written_ns = self.drive.definition_file(key)
            return Entry(False, self.definition_mode, len(data), written_ns)
        if where.leaf == STATUS_JSON:
            return Entry(False, 0o444, len(self.drive.status(key, poll=False)), time.time_ns())
        size, mtime_ns = self.drive.archive_attributes(key)
        return Entry(False, 0o444, size, mtime_ns)

    def listdir(self, at: At) -> list[str]:
        where = self.parse(at)
        if where.key is None:
            return self.own_names()
        if where.leaf is not None:
            raise Refused(errno.ENOTDIR, "not a directory")
        return self.names_in(self.existing(where))

    def open_output(self, at: At, key: RequestKey, leaf: str, caller: int | None) -> OpenFile:
        """One of the files the mount makes, open for reading (an archive joins or starts
        its download and returns once bytes can flow, or raises why not)."""
        if leaf == REQUEST_JSON:
            current, mtime_ns = self.drive.definition_file(key)
            return Snapshot(current, self.definition_mode, mtime_ns)
        if leaf == STATUS_JSON:
            return Snapshot(self.drive.status(key), live_time=True)
        return self.opener.archive(at.path, self.drive.open_archive(key), caller)

    def xattrs(self, at: At) -> Xattrs:
        where = self.parse(at)
        key = where.key
        if where.leaf != REQUEST_ZIP or key is None or not self.drive.exists(key):
            return {}
        if REQUEST_ZIP not in self.leaves(key):
            return {}
        return {STATUS_XATTR: lambda: self.drive.status(key)}

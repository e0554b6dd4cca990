"""The user's request directories: every top-level name that is not another tree's.

``mkdir NAME`` makes a request, writing ``NAME/request.json`` defines it (checked as
the bytes come, stored whole at flush), and ``rmdir NAME`` removes it. Any other
name in a request directory is a scratch file (:mod:`boxzipfs.drive.scratch`), so a
write-then-rename replaces the definition atomically. This is the one tree that
takes writes; its own directory is the mount's root.
"""

from __future__ import annotations

import errno
import threading

from boxzipfs.drive.drive import RequestKey
from boxzipfs.drive.openfiles import DefinitionWriter, Entry, OpenFile, ScratchFile
from boxzipfs.drive.scratch import ScratchFiles
from boxzipfs.drive.trees.base import At, Shared
from boxzipfs.drive.trees.requestdirs import OUTPUTS, REQUEST_JSON, RequestDirs, RequestPath
from boxzipfs.errors import Refused

ONLY_REQUEST_JSON = (
    "a request directory holds request.json, request.zip and status.json; only request.json "
    "can be written (in place, or a temporary file renamed over it)"
)


class Requests(RequestDirs):
    """The request directories at the mount's top level."""

    shown = True  # its directory is the root itself; its names are listed there
    read_only: str | None = None

    def __init__(self, shared: Shared, owner: tuple[int, int]) -> None:
        self.drive = shared.drive
        self.opener = shared.opener
        self.owner = owner  # (uid, gid) every file shows; chown to it changes nothing
        self.scratch = ScratchFiles()
        self._lock = threading.Lock()  # guards _writers
        # request.json files being written (created and not yet stored): a lookup sees them
        self._writers: dict[str, list[DefinitionWriter]] = {}

    # -- request.json being written ---------------------------------------------------

    def _writer(self, name: str) -> DefinitionWriter | None:
        with self._lock:
            writers = self._writers.get(name)
            return writers[-1] if writers else None

    def _new_writer(self, name: str, data: bytes, dirty: bool) -> DefinitionWriter:
        writer = DefinitionWriter(self.drive, name, data, dirty, self._writer_closed)
        with self._lock:
            self._writers.setdefault(name, []).append(writer)
        return writer

    def _writer_closed(self, writer: DefinitionWriter) -> None:
        with self._lock:
            writers = self._writers.get(writer.name, [])
            if writer in writers:
                writers.remove(writer)
            if not writers:
                self._writers.pop(writer.name, None)

    # -- reads ------------------------------------------------------------------------

    def own_names(self) -> list[str]:
        return self.drive.request_names()

    def other_entry(self, key: RequestKey, leaf: str) -> Entry:
        pending = self._writer(key.name) if leaf == REQUEST_JSON else None
        if pending is not None:  # created, not yet written: cp's fstat must see it
            return pending.entry()
        scratch = self.scratch.get(key.name, leaf)
        if scratch is None:
            raise Refused(errno.ENOENT, "no such file")
        return Entry(False, 0o644, len(scratch.data), scratch.mtime_ns)

    def names_in(self, key: RequestKey) -> list[str]:
        names = self.leaves(key)
        if REQUEST_JSON not in names and self._writer(key.name) is not None:
            names.insert(0, REQUEST_JSON)  # created, not yet written
        return names + self.scratch.names(key.name)

    def open(self, at: At, writing: bool, truncate: bool, caller: int | None) -> OpenFile:
        """Open for reading or, request.json and scratch files only, for writing."""
        where = self.parse(at)
        if where.leaf is None:
            raise Refused(errno.EISDIR, "a directory")
        key = self.existing(where)
        leaf = where.leaf
        if leaf not in self.leaves(key):
            scratch = self.scratch.get(key.name, leaf)
            if scratch is None:
                raise Refused(errno.ENOENT, "no such file")
            if truncate:
                scratch.truncate(0)
            return ScratchFile(scratch)
        if not writing:
            return self.open_output(at, key, leaf, caller)
        if leaf != REQUEST_JSON:
            raise Refused(errno.EACCES, f"{leaf} is read-only")
        current, _ = self.drive.definition_file(key)
        return self._new_writer(key.name, b"" if truncate else current, truncate)

    # -- writes -----------------------------------------------------------------------

    @staticmethod
    def _in_a_request(where: RequestPath, reserved: str) -> RequestKey:
        """The request a path to be written is in (the root itself takes no writes)."""
        if where.key is None:
            raise Refused(errno.EPERM, reserved)
        return where.key

    def mkdir(self, at: At) -> None:
        where = self.parse(at)
        key = self._in_a_request(where, "that name is reserved")
        if where.leaf is not None:
            raise Refused(errno.EPERM, ONLY_REQUEST_JSON)
        self.drive.make(key.name)

    def rmdir(self, at: At) -> None:
        where = self.parse(at)
        key = self._in_a_request(where, "only request directories can be removed")
        if where.leaf is not None:
            raise Refused(errno.ENOTDIR, "not a directory")
        self.drive.remove(key.name)
        self.scratch.forget(key.name)

    def create(self, at: At) -> OpenFile:
        """A new request.json, open for writing, or a scratch file; anything else is refused."""
        where = self.parse(at)
        key = self._in_a_request(where, "that name is reserved")
        if where.leaf is None:
            if self.drive.exists(key):
                raise Refused(errno.EISDIR, "a request directory")
            raise Refused(
                errno.EPERM, "files cannot be created at the top: mkdir NAME, then write NAME/request.json"
            )
        if not self.drive.exists(key):
            raise Refused(errno.ENOENT, "no such request")
        if where.leaf in OUTPUTS:
            raise Refused(errno.EACCES, f"{where.leaf} is read-only")
        if where.leaf != REQUEST_JSON:  # the temporary file of a write-then-rename
            return ScratchFile(self.scratch.create(key.name, where.leaf))
        return self._new_writer(key.name, b"", dirty=True)

    def truncate(self, at: At, length: int) -> None:
        """A truncate by path (no open handle) of a scratch file; of request.json it would
        replace the definition with nothing, which is never valid: refused, the definition kept."""
        where = self.parse(at)
        if where.leaf is None:
            raise Refused(errno.EISDIR, "a directory")
        key = self.existing(where)
        scratch = self.scratch.get(key.name, where.leaf)
        if scratch is not None:
            scratch.truncate(length)
            return
        if where.leaf != REQUEST_JSON:
            raise Refused(errno.EACCES, f"{where.leaf} is read-only")
        raise Refused(errno.EINVAL, "request.json cannot be emptied; write the new definition instead")

    def touch(self, at: At) -> None:
        """utimens: accepted on whatever exists, changing nothing (editors, cp -p and rsync -a
        set times, rsync on directories too). Touching a defined request.json asks for a
        fresh archive: the next read creates a new one."""
        where = self.parse(at)
        self.lookup(at)
        if where.leaf == REQUEST_JSON and where.key is not None and self.drive.spec(where.key) is not None:
            self.drive.refresh(where.key)

    def _own_file(self, at: At) -> None:
        """request.json or a scratch file of a request directory, which exists."""
        where = self.parse(at)
        self._in_a_request(where, "only files in request directories can change")
        if where.leaf is None or where.leaf in OUTPUTS:
            raise Refused(errno.EPERM, "modes and owners are fixed")
        self.lookup(at)

    def chmod(self, at: At) -> None:
        """Accepted on request.json and scratch files, changing nothing (shutil.copy, install
        and rsync set the mode of what they write); every other file's mode is fixed."""
        self._own_file(at)

    def chown(self, at: At, uid: int, gid: int) -> None:
        """To the owner every file shows (install and cp -p as root do it): nothing changes."""
        self._own_file(at)
        if uid not in (-1, self.owner[0]) or gid not in (-1, self.owner[1]):
            raise Refused(errno.EPERM, "owners are fixed")

    def unlink(self, at: At) -> None:
        """A scratch file goes; request.json goes as a file does (the request stays, undefined,
        until a new one is written: install replaces a file that way); a request goes with its
        directory (rmdir)."""
        where = self.parse(at)
        key = self._in_a_request(where, "rmdir a request directory to remove the request")
        if where.leaf is not None and self.scratch.get(key.name, where.leaf) is not None:
            self.scratch.remove(key.name, where.leaf)
            return
        if where.leaf == REQUEST_JSON and self.drive.exists(key):
            self.drive.undefine(key.name)
            return
        if where.leaf in OUTPUTS:
            reason = f"{where.leaf} is read-only: rmdir the request directory to remove it"
            raise Refused(errno.EACCES, reason)
        raise Refused(errno.ENOENT, "no such file")

    def rename(self, at: At, to: At) -> None:
        """A scratch file renamed over request.json replaces the definition at once (validated
        first: a bad one is refused and both files stay as they were), or takes another name."""
        source, target = self.parse(at), self.parse(to)
        key = self._in_a_request(source, "renaming is not supported")
        self._in_a_request(target, "renaming is not supported")
        if source.leaf is None or target.leaf is None or source.key != target.key:
            raise Refused(errno.EPERM, "only files within one request directory can be renamed")
        scratch = self.scratch.get(key.name, source.leaf)
        if scratch is None:
            raise Refused(errno.EPERM, "request.json is written in place or replaced, never renamed away")
        if target.leaf in OUTPUTS:
            raise Refused(errno.EACCES, f"{target.leaf} is read-only")
        if target.leaf == REQUEST_JSON:
            self.drive.save_definition(key.name, bytes(scratch.data))
            self.scratch.remove(key.name, source.leaf)
            return
        self.scratch.rename(key.name, source.leaf, target.leaf)

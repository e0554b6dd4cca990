"""The FUSE skin: paths to MountView calls, handles to open files, exceptions to errno.

Everything the mount decides lives in :mod:`boxzipfs.drive.view` (what a path is,
what may be written, how an open file is served); this class only translates. Every
error is raised as ``FuseOSError`` with the errno of the one table
(:mod:`boxzipfs.drive.errnos`), its cause logged: mfusepy would turn any other
exception into a misleading EINVAL.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from boxzipfs.drive import callers
from boxzipfs.drive.errnos import errno_for, exhausted
from boxzipfs.drive.view import Entry, MountView, OpenFile
from boxzipfs.errors import BoxZipError, Refused
from boxzipfs.mount.libfuse import FuseOSError, Operations, fuse_get_context

log = logging.getLogger(__name__)

BLOCK_SIZE = 1 << 20  # nudges programs to read in big pieces
QUIET = frozenset({errno.ENOENT, errno.ENODATA, errno.ENOTDIR, errno.EISDIR})  # lookups: not news

F = TypeVar("F", bound=Callable[..., Any])


def translated(operation: F) -> F:
    """Every operation: BoxZipError to its errno by the one table, a system limit (EMFILE, ENOSPC...)
    to its own errno in one log line; anything unexpected a logged EIO."""

    @functools.wraps(operation)
    def run(self: BoxZipOperations, *args: Any) -> Any:
        try:
            return operation(self, *args)
        except FuseOSError:
            raise
        except BoxZipError as exc:
            code = errno_for(exc)
            level = logging.DEBUG if isinstance(exc, Refused) and code in QUIET else logging.INFO
            where = args[0] if args else ""
            log.log(level, "%s %s: %s -> %s", operation.__name__, where, exc, errno.errorcode.get(code))
            raise FuseOSError(code) from None
        except Exception as exc:
            where = args[0] if args else ""
            limit = exhausted(exc)
            if limit is None:
                log.exception("%s %s failed unexpectedly", operation.__name__, where)
                raise FuseOSError(errno.EIO) from None
            # a system limit: one line that names it, the reader gets that errno
            name, reason = operation.__name__, os.strerror(limit)
            log.warning("%s %s: %s -> %s", name, where, reason, errno.errorcode[limit])
            raise FuseOSError(limit) from None

    return run  # type: ignore[return-value]


class BoxZipOperations(Operations):  # type: ignore[misc]
    """FUSE operations over a MountView (``raw_fi`` so open can choose direct I/O and keep_cache)."""

    use_ns = True

    def __init__(
        self,
        view: MountView,
        on_mounted: Callable[[], None] | None = None,
        on_first_request: Callable[[], object] | None = None,
    ) -> None:
        self.view = view
        self._on_mounted = on_mounted
        # The kernel applies INIT's reply only after init returns: settings it would
        # overwrite (read-ahead) wait for the first request, which follows the reply.
        self._on_first_request = on_first_request
        self.mounted = False  # set by init: libfuse3 reports an unmount by signal as an error
        self._handles: dict[int, OpenFile] = {}
        # Which program opened each handle, by path: the kernel sends fstat as a stat of the
        # path, and an open archive's fstat must reach its handle (rsync trusts the size).
        self._opened: dict[str, list[tuple[int, int]]] = {}  # path -> [(program, handle)]
        self._paths: dict[int, str] = {}  # handle -> the path it was opened by
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # guards _handles and _on_first_request
        self._uid, self._gid = view.owner  # --uid/--gid, else the mounting user
        self._keep = 0o7777 & ~view.umask  # --umask
        self._mounted_ns = time.time_ns()

    def init(self, path: str) -> None:
        """The kernel has the mount: tell whoever waits for it (the background parent)."""
        self.mounted = True
        if self._on_mounted is not None:
            self._on_mounted()

    def _stat(self, entry: Entry) -> dict[str, int]:
        mtime = self._mounted_ns if entry.mtime_ns is None else entry.mtime_ns
        kind = stat.S_IFDIR if entry.is_dir else stat.S_IFREG
        return {
            "st_mode": kind | (entry.mode & self._keep),
            "st_nlink": 2 if entry.is_dir else 1,
            "st_size": entry.size,
            "st_uid": self._uid,
            "st_gid": self._gid,
            "st_blksize": BLOCK_SIZE,
            "st_blocks": (entry.size + 511) // 512,
            "st_atime": self._mounted_ns,
            "st_mtime": mtime,
            "st_ctime": mtime,
        }

    def _handle(self, fi: Any) -> OpenFile:
        handle = self._handles.get(fi.fh) if fi else None
        if handle is None:
            raise FuseOSError(errno.EBADF)
        return handle

    def _add(self, handle: OpenFile, fi: Any, path: str, program: int) -> int:
        fi.direct_io = int(handle.direct_io)
        fi.nonseekable = int(handle.nonseekable)
        fi.keep_cache = int(handle.keep_cache)
        with self._lock:
            fi.fh = next(self._ids)
            self._handles[fi.fh] = handle
            self._opened.setdefault(path, []).append((program, fi.fh))
            self._paths[fi.fh] = path
        return 0

    def _opened_by_caller(self, path: str) -> OpenFile | None:
        """The caller's own open handle of ``path``, if it has one (its fstat)."""
        with self._lock:
            opened = list(self._opened.get(path, ()))
        if not opened:
            return None
        program = callers.program(fuse_get_context()[2])
        for opener, number in reversed(opened):
            if opener == program:
                return self._handles.get(number)
        return None

    # -- attributes and directories ------------------------------------------------

    def getattr(self, path: str, fh: Any = None) -> dict[str, int]:
        if self._on_first_request is not None:
            with self._lock:
                first, self._on_first_request = self._on_first_request, None
            if first is not None:
                first()
        handle = self._handles.get(fh.fh) if fh else self._opened_by_caller(path)
        return self._stat(handle.entry() if handle is not None else self.view.lookup(path))

    def readdir(self, path: str, fh: Any) -> list[str]:
        return [".", "..", *self.view.listdir(path)]

    def mkdir(self, path: str, mode: int) -> None:
        self.view.mkdir(path)

    def rmdir(self, path: str) -> None:
        self.view.rmdir(path)

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": BLOCK_SIZE, "f_frsize": BLOCK_SIZE, "f_namemax": 255}

    # -- files ---------------------------------------------------------------------------

    def create(self, path: str, mode: int, fi: Any) -> int:
        return self._add(self.view.create(path), fi, path, callers.program(fuse_get_context()[2]))

    def open(self, path: str, fi: Any) -> int:
        writing = (fi.flags & os.O_ACCMODE) != os.O_RDONLY
        caller = fuse_get_context()[2]
        opened = self.view.open(path, writing, bool(fi.flags & os.O_TRUNC), caller or None)
        return self._add(opened, fi, path, callers.program(caller))

    def read(self, path: str, size: int, offset: int, fi: Any) -> bytes:
        """Registers libfuse's read callback; our FUSE subclass answers it with ``read_into``."""
        return self._handle(fi).read(offset, size)

    def read_into(self, path: str, into: memoryview, offset: int, fi: Any) -> int:
        """A read put straight into libfuse's reply buffer (see :class:`~boxzipfs.mount.libfuse.FUSE`)."""
        return self._handle(fi).read_into(offset, into)

    def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
        return self._handle(fi).write(data, offset)

    def truncate(self, path: str, length: int, fh: Any = None) -> None:
        handle = self._handles.get(fh.fh) if fh else None
        if handle is None:
            self.view.truncate(path, length)
        else:
            handle.truncate(length)

    def flush(self, path: str, fi: Any) -> None:
        """Errors of a written request.json are reported here: errors in release are never seen."""
        self._handle(fi).flush()

    def release(self, path: str, fi: Any) -> None:
        with self._lock:
            handle = self._handles.pop(fi.fh, None)
            opened_path = self._paths.pop(fi.fh, None)
            remaining = [e for e in self._opened.pop(opened_path or "", []) if e[1] != fi.fh]
            if remaining and opened_path is not None:
                self._opened[opened_path] = remaining
        if handle is not None:
            handle.close()

    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        return self.view.getxattr(path, name)

    def listxattr(self, path: str) -> list[str]:
        return self.view.listxattr(path)

    def utimens(self, path: str, times: Any = None) -> None:
        self.view.touch(path)

    def chmod(self, path: str, mode: int) -> None:
        self.view.chmod(path)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self.view.chown(path, uid, gid)

    def unlink(self, path: str) -> None:
        self.view.unlink(path)

    def rename(self, old: str, new: str) -> None:
        self.view.rename(old, new)

    # -- refused outright -------------------------------------------------------------

    def symlink(self, target: str, source: str) -> None:
        raise Refused(errno.EPERM, "links are not supported")

    def link(self, target: str, source: str) -> None:
        raise Refused(errno.EPERM, "links are not supported")

    def mknod(self, path: str, mode: int, dev: int) -> None:
        raise Refused(errno.EPERM, "only request.json can be written")


OPERATIONS = (
    "getattr", "readdir", "mkdir", "rmdir", "statfs", "create", "open", "read", "write", "truncate",
    "read_into", "flush", "release", "utimens", "chmod", "chown", "unlink", "rename", "symlink", "link",
    "mknod", "getxattr", "listxattr",
)  # fmt: skip
for _name in OPERATIONS:
    setattr(BoxZipOperations, _name, translated(getattr(BoxZipOperations, _name)))

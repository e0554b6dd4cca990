"""The FUSE adapter: paths to Drive calls, handles to readers, exceptions to errno.

Layout::

    /NAME/request.json     the definition (write it to define the request)
    /NAME/request.zip      the archive, streamed from Box when opened
    /NAME/status.json      live state of NAME's latest download
    /by-id/folder-ID/...   the same for one Box folder (or file-ID), no definition needed
    /browse/A/B.pdf        Box by name: folders and files (a file is read out of its own zip)
    /archives/A.zip        folder A as one archive (its by-id download); /archives/A/ descends

request.zip is opened as a non-seekable stream with direct I/O while its size is
unknown, so readers go to the true end of the archive (and sendfile, which would
trust st_size, fails over to plain reads); once complete its exact size is
reported and the page cache may serve it. Browse files have their exact size from
the folder listing, so they are ordinary cached files. Every archive and browse
file carries its live status in the ``user.boxzipfs.status`` xattr. Every error
is raised as ``FuseOSError`` with the errno from :mod:`boxzipfs.drive.errnos`,
its cause logged.
"""

from __future__ import annotations

import errno
import functools
import itertools
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from boxzipfs.download.archive import ArchiveDownload
from boxzipfs.drive.browse import ARCHIVES, BROWSE, DOWNLOADS_XATTR, STATUS_XATTR, BoxEntry, BrowseTree
from boxzipfs.drive.drive import BY_ID, Drive, RequestKey
from boxzipfs.drive.errnos import errno_for
from boxzipfs.drive.names import ARCHIVE_SUFFIX
from boxzipfs.errors import BoxZipError
from boxzipfs.mount.libfuse import FuseOSError, Operations

log = logging.getLogger(__name__)

REQUEST_JSON, REQUEST_ZIP, STATUS_JSON = "request.json", "request.zip", "status.json"
BLOCK_SIZE = 1 << 20  # nudges programs to read in big pieces
XATTR_MAX = 65536  # the kernel's limit for one xattr value


@dataclass(frozen=True)
class Node:
    """What a path names: a directory (``leaf`` None) or one of a request's files."""

    kind: str  # "root", "by-id", "request", "browse", "archives"
    key: RequestKey | None = None
    leaf: str | None = None
    parts: tuple[str, ...] = ()  # below browse/ or archives/


@dataclass
class ArchiveHandle:
    download: ArchiveDownload


@dataclass
class SnapshotHandle:
    data: bytes


@dataclass
class DefinitionHandle:
    """request.json open for writing; ``refused`` once its bytes were rejected."""

    name: str
    data: bytearray = field(default_factory=bytearray)
    dirty: bool = False
    refused: int = 0


Handle = ArchiveHandle | SnapshotHandle | DefinitionHandle


LEAVES = (REQUEST_JSON, REQUEST_ZIP, STATUS_JSON)


def parse_path(path: str) -> Node:
    """The node a path names; ``leaf`` may be a name that does not exist (for create's refusal)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return Node("root")
    if parts[0] in (BROWSE, ARCHIVES):
        return Node(parts[0], parts=tuple(parts[1:]))
    if parts[0] == BY_ID:
        if len(parts) == 1:
            return Node("by-id")
        key = RequestKey(parts[1], by_id=True)
        rest = parts[2:]
    else:
        key = RequestKey(parts[0])
        rest = parts[1:]
    if not rest:
        return Node("request", key)
    if len(rest) == 1:
        return Node("request", key, rest[0])
    raise FuseOSError(errno.ENOENT)


def _is_archive(node: Node) -> bool:
    return bool(node.parts) and node.parts[-1].endswith(ARCHIVE_SUFFIX)


def refuse(code: int, op: str, path: str, why: str) -> FuseOSError:
    """A deliberate refusal: the log says what is allowed instead."""
    log.info("%s %s refused (%s): %s", op, path, errno.errorcode.get(code, code), why)
    return FuseOSError(code)


ONLY_REQUEST_JSON = (
    "a request directory holds request.json, request.zip and status.json; only request.json "
    "can be written, in place (cat new.json > request.json, or boxzipfs request add)"
)
BY_ID_READ_ONLY = "by-id/ is read-only: define a request directory to choose items"
BROWSE_READ_ONLY = "browse/ and archives/ mirror Box and are read-only"


F = TypeVar("F", bound=Callable[..., Any])


def translated(operation: F) -> F:
    """Every operation: BoxZipError to its errno by the one table; anything unexpected a logged EIO.

    mfusepy would turn any non-OSError into a misleading EINVAL.
    """

    @functools.wraps(operation)
    def run(self: BoxZipOperations, *args: Any) -> Any:
        try:
            return operation(self, *args)
        except FuseOSError:
            raise
        except BoxZipError as exc:
            code = errno_for(exc)
            log.info(
                "%s %s: %s -> %s", operation.__name__, args[0] if args else "", exc, errno.errorcode.get(code)
            )
            raise FuseOSError(code) from None
        except Exception:
            log.exception("%s %s failed unexpectedly", operation.__name__, args[0] if args else "")
            raise FuseOSError(errno.EIO) from None

    return run  # type: ignore[return-value]


class BoxZipOperations(Operations):  # type: ignore[misc]
    """FUSE operations over a Drive (``raw_fi`` so open can choose direct I/O and keep_cache)."""

    use_ns = True

    def __init__(
        self,
        drive: Drive,
        on_mounted: Callable[[], None] | None = None,
        on_first_request: Callable[[], object] | None = None,
    ) -> None:
        self.drive = drive
        self._on_mounted = on_mounted
        # The kernel applies INIT's reply only after init returns: settings it would
        # overwrite (read-ahead) wait for the first request, which follows the reply.
        self._on_first_request = on_first_request
        self.mounted = False  # set by init: libfuse3 reports an unmount by signal as an error
        self._handles: dict[int, Handle] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._uid, self._gid = os.getuid(), os.getgid()
        self._mounted_ns = time.time_ns()

    def init(self, path: str) -> None:
        """The kernel has the mount: tell whoever waits for it (the background parent)."""
        self.mounted = True
        if self._on_mounted is not None:
            self._on_mounted()

    # -- attributes and directories ------------------------------------------------

    def _stat(self, mode: int, size: int = 0, mtime_ns: int | None = None) -> dict[str, int]:
        mtime = self._mounted_ns if mtime_ns is None else mtime_ns
        return {
            "st_mode": mode,
            "st_nlink": 2 if stat.S_ISDIR(mode) else 1,
            "st_size": size,
            "st_uid": self._uid,
            "st_gid": self._gid,
            "st_blksize": BLOCK_SIZE,
            "st_blocks": (size + 511) // 512,
            "st_atime": self._mounted_ns,
            "st_mtime": mtime,
            "st_ctime": mtime,
        }

    def _leaves(self, key: RequestKey) -> list[str]:
        if self.drive.spec(key) is None:
            return [STATUS_JSON]
        return [REQUEST_JSON, REQUEST_ZIP, STATUS_JSON]

    def getattr(self, path: str, fh: Any = None) -> dict[str, int]:
        if self._on_first_request is not None:
            with self._lock:
                first, self._on_first_request = self._on_first_request, None
            if first is not None:
                first()
        node = parse_path(path)
        if node.kind in ("root", "by-id"):
            return self._stat(stat.S_IFDIR | 0o755)
        if node.kind == BROWSE:
            entry = self._browse_entry(node)
            if entry.kind == "folder":
                return self._stat(stat.S_IFDIR | 0o555, 0, entry.mtime_ns)
            return self._stat(stat.S_IFREG | 0o444, entry.size or 0, entry.mtime_ns)
        if node.kind == ARCHIVES:
            entry = self._archives_entry(node)
            if not _is_archive(node):
                return self._stat(stat.S_IFDIR | 0o555, 0, entry.mtime_ns)
            handle = self._handles.get(fh.fh) if fh else None
            if isinstance(handle, ArchiveHandle):
                attributes = handle.download.attributes()
            else:  # a stat never waits for the size, nor starts a download
                attributes = self.drive.archive_attributes(self.drive.folder_key(entry), may_wait=False)
            return self._stat(stat.S_IFREG | 0o444, *attributes)
        assert node.key is not None
        if not self.drive.exists(node.key):
            raise FuseOSError(errno.ENOENT)
        if node.leaf is None:
            return self._stat(stat.S_IFDIR | (0o555 if node.key.by_id else 0o755))
        handle = self._handles.get(fh.fh) if fh else None
        if isinstance(handle, DefinitionHandle):
            return self._stat(stat.S_IFREG | 0o644, len(handle.data))
        if node.leaf not in self._leaves(node.key):
            raise FuseOSError(errno.ENOENT)
        if node.leaf == REQUEST_JSON:
            mode = 0o444 if node.key.by_id else 0o644
            data, mtime_ns = self.drive.definition_file(node.key)
            return self._stat(stat.S_IFREG | mode, len(data), mtime_ns)
        if node.leaf == STATUS_JSON:
            if isinstance(handle, SnapshotHandle):
                return self._stat(stat.S_IFREG | 0o444, len(handle.data), time.time_ns())
            return self._stat(
                stat.S_IFREG | 0o444, len(self.drive.status(node.key, poll=False)), time.time_ns()
            )
        if isinstance(handle, ArchiveHandle):
            size, mtime_ns = handle.download.attributes()
        else:
            size, mtime_ns = self.drive.archive_attributes(node.key)
        return self._stat(stat.S_IFREG | 0o444, size, mtime_ns)

    def readdir(self, path: str, fh: Any) -> list[str]:
        node = parse_path(path)
        if node.kind == "root":
            names = self.drive.request_names()
            trees = [BROWSE, ARCHIVES] if self.drive.browse is not None else []
            return [".", "..", BY_ID, *trees, *names]
        if node.kind == BROWSE:
            entry = self._browse_entry(node)
            if entry.kind != "folder":
                raise FuseOSError(errno.ENOTDIR)
            return [".", "..", *self._browse().listing(entry.id).files]
        if node.kind == ARCHIVES:
            if _is_archive(node):
                raise FuseOSError(errno.ENOTDIR)
            listing = self._browse().listing(self._archives_entry(node).id)
            return [".", "..", *listing.dirs, *listing.archives]
        if node.kind == "by-id":
            return [".", "..", *self.drive.by_id_names()]
        if node.leaf is not None or node.key is None or not self.drive.exists(node.key):
            raise FuseOSError(errno.ENOTDIR if node.leaf else errno.ENOENT)
        return [".", "..", *self._leaves(node.key)]

    def mkdir(self, path: str, mode: int) -> None:
        node = parse_path(path)
        if node.kind in (BROWSE, ARCHIVES):
            raise refuse(errno.EROFS, "mkdir", path, BROWSE_READ_ONLY)
        if node.kind != "request" or node.key is None:
            raise refuse(errno.EPERM, "mkdir", path, "that name is reserved")
        if node.key.by_id:
            raise refuse(errno.EROFS, "mkdir", path, BY_ID_READ_ONLY)
        if node.leaf is not None:
            raise refuse(errno.EPERM, "mkdir", path, ONLY_REQUEST_JSON)
        self.drive.make(node.key.name)

    def rmdir(self, path: str) -> None:
        node = parse_path(path)
        if node.kind in (BROWSE, ARCHIVES):
            raise refuse(errno.EROFS, "rmdir", path, BROWSE_READ_ONLY)
        if node.kind != "request" or node.key is None:
            raise refuse(errno.EPERM, "rmdir", path, "only request directories can be removed")
        if node.key.by_id:
            raise refuse(errno.EROFS, "rmdir", path, BY_ID_READ_ONLY)
        if node.leaf is not None:
            raise FuseOSError(errno.ENOTDIR)
        self.drive.remove(node.key.name)

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": BLOCK_SIZE, "f_frsize": BLOCK_SIZE, "f_namemax": 255}

    # -- files ---------------------------------------------------------------------------

    def _add(self, handle: Handle) -> int:
        with self._lock:
            number = next(self._ids)
            self._handles[number] = handle
            return number

    def _file(self, path: str) -> tuple[RequestKey, str]:
        node = parse_path(path)
        if node.kind in (BROWSE, ARCHIVES):
            raise refuse(errno.EROFS, "write", path, BROWSE_READ_ONLY)
        if node.key is None or node.leaf is None:
            raise FuseOSError(errno.EISDIR)
        if not self.drive.exists(node.key):
            raise FuseOSError(errno.ENOENT)
        return node.key, node.leaf

    def create(self, path: str, mode: int, fi: Any) -> int:
        node = parse_path(path)
        if node.kind in (BROWSE, ARCHIVES):
            raise refuse(errno.EROFS, "create", path, BROWSE_READ_ONLY)
        if node.key is None or node.kind != "request":
            raise refuse(errno.EPERM, "create", path, "that name is reserved")
        if node.key.by_id:
            raise refuse(errno.EROFS, "create", path, BY_ID_READ_ONLY)
        if node.leaf is None:
            if self.drive.exists(node.key):
                raise FuseOSError(errno.EISDIR)
            raise refuse(
                errno.EPERM,
                "create",
                path,
                "files cannot be created at the top: mkdir NAME, then write NAME/request.json",
            )
        if not self.drive.exists(node.key):
            raise FuseOSError(errno.ENOENT)
        if node.leaf in (REQUEST_ZIP, STATUS_JSON):
            raise refuse(errno.EACCES, "create", path, f"{node.leaf} is read-only")
        if node.leaf != REQUEST_JSON:
            raise refuse(errno.EPERM, "create", path, ONLY_REQUEST_JSON)
        fi.fh = self._add(DefinitionHandle(node.key.name, dirty=True))
        fi.direct_io = 1
        return 0

    def open(self, path: str, fi: Any) -> int:
        node = parse_path(path)
        if node.kind in (BROWSE, ARCHIVES):
            return self._open_box(path, node, fi)
        key, leaf = self._file(path)
        writing = (fi.flags & os.O_ACCMODE) != os.O_RDONLY
        if leaf not in self._leaves(key):
            raise FuseOSError(errno.ENOENT)
        if writing and key.by_id:
            raise refuse(errno.EROFS, "open", path, BY_ID_READ_ONLY)
        if writing and leaf != REQUEST_JSON:
            raise refuse(errno.EACCES, "open", path, f"{leaf} is read-only")
        handle: Handle
        if leaf == REQUEST_JSON:
            current = self.drive.definition(key)
            if writing:
                truncate = bool(fi.flags & os.O_TRUNC)
                handle = DefinitionHandle(key.name, bytearray() if truncate else bytearray(current), truncate)
            else:
                handle = SnapshotHandle(current)
            fi.direct_io = 1
        elif leaf == STATUS_JSON:
            handle = SnapshotHandle(self.drive.status(key))
            fi.direct_io = 1
        else:
            handle = self._open_archive(key, fi)
        fi.fh = self._add(handle)
        return 0

    def _open_archive(self, key: RequestKey, fi: Any) -> ArchiveHandle:
        download = self.drive.open_archive(key)
        streaming = not download.spool.complete
        fi.direct_io = int(streaming)
        # While the size is unknown the file is a stream: without this, sendfile and
        # splice (shutil.copyfile) trust st_size 0 and copy nothing, silently.
        fi.nonseekable = int(streaming)
        # A complete archive never changes: the page cache may serve re-reads with no
        # daemon work. A newer archive under this path has a new mtime and size, which
        # libfuse3's auto_inval_data turns into an invalidation at the next getattr.
        fi.keep_cache = int(not streaming)
        return ArchiveHandle(download)

    def _open_box(self, path: str, node: Node, fi: Any) -> int:
        """Open a browse file (unpacked from its own zip) or a folder's archive."""
        if (fi.flags & os.O_ACCMODE) != os.O_RDONLY:
            raise refuse(errno.EROFS, "open", path, BROWSE_READ_ONLY)
        handle: Handle
        if node.kind == ARCHIVES:
            entry = self._archives_entry(node)
            if not _is_archive(node):
                raise FuseOSError(errno.EISDIR)
            handle = self._open_archive(self.drive.folder_key(entry), fi)
        else:
            entry = self._browse_entry(node)
            if entry.kind == "folder":
                raise FuseOSError(errno.EISDIR)
            # The size is exact (the listing's): an ordinary file the page cache may keep; a
            # changed file has a new mtime, which auto_inval_data turns into an invalidation.
            opened = None if entry.size == 0 else self.drive.open_file(entry, path.lstrip("/"))
            handle = SnapshotHandle(b"") if opened is None else ArchiveHandle(opened)
            fi.keep_cache = 1
        fi.fh = self._add(handle)
        return 0

    # -- browse/ and archives/ ----------------------------------------------------------

    def _browse(self) -> BrowseTree:
        if self.drive.browse is None:
            raise FuseOSError(errno.ENOENT)
        return self.drive.browse

    def _browse_entry(self, node: Node) -> BoxEntry:
        return self._browse().resolve(list(node.parts))

    def _archives_entry(self, node: Node) -> BoxEntry:
        return self._browse().resolve_archives(list(node.parts))

    def _status_of(self, path: str) -> bytes | None:
        """The live status of the archive or browse file at ``path``; None for anything else."""
        node = parse_path(path)
        if node.kind == BROWSE and node.parts:
            entry = self._browse_entry(node)
            return None if entry.kind == "folder" else self.drive.file_status(entry, path.lstrip("/"))
        if node.kind == ARCHIVES and _is_archive(node):
            return self.drive.status(self.drive.folder_key(self._archives_entry(node)))
        key = node.key
        if node.kind == "request" and key is not None and node.leaf == REQUEST_ZIP and self.drive.exists(key):
            return self.drive.status(key) if node.leaf in self._leaves(key) else None
        return None

    def _browse_downloads(self) -> bytes:
        """The status of the browse files read lately, newest last, within an xattr's 64 KiB."""
        docs = self.drive.browse_statuses()
        while True:
            data = json.dumps(docs).encode()
            if len(data) <= XATTR_MAX or not docs:
                return data
            docs = docs[1:]

    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        if name == DOWNLOADS_XATTR and path == f"/{BROWSE}" and self.drive.browse is not None:
            return self._browse_downloads()
        status = self._status_of(path) if name == STATUS_XATTR else None
        if status is None:
            raise FuseOSError(errno.ENODATA)
        return status

    def listxattr(self, path: str) -> list[str]:
        if path == f"/{BROWSE}" and self.drive.browse is not None:
            return [DOWNLOADS_XATTR]
        return [STATUS_XATTR] if self._status_of(path) is not None else []

    def read(self, path: str, size: int, offset: int, fi: Any) -> bytes:
        handle = self._handles.get(fi.fh)
        if isinstance(handle, ArchiveHandle):
            return handle.download.read(offset, size)
        if isinstance(handle, SnapshotHandle):
            return handle.data[offset : offset + size]
        if isinstance(handle, DefinitionHandle):
            return bytes(handle.data[offset : offset + size])
        raise FuseOSError(errno.EBADF)

    def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
        handle = self._handles.get(fi.fh)
        if not isinstance(handle, DefinitionHandle):
            raise FuseOSError(errno.EBADF)
        if handle.refused:
            raise FuseOSError(handle.refused)
        end = offset + len(data)
        if end > len(handle.data):
            handle.data.extend(b"\0" * (end - len(handle.data)))
        handle.data[offset:end] = data
        handle.dirty = True
        self._check_partial(handle)
        return len(data)

    def _check_partial(self, handle: DefinitionHandle) -> None:
        """Refuse a bad request.json at write, where every program sees the error;
        later writes and the close report the same refusal."""
        try:
            self.drive.check_partial_definition(handle.name, bytes(handle.data))
        except BoxZipError as exc:
            handle.refused = errno_for(exc)
            handle.dirty = False
            handle.data = bytearray()
            raise

    def truncate(self, path: str, length: int, fh: Any = None) -> None:
        handle = self._handles.get(fh.fh) if fh else None
        if not isinstance(handle, DefinitionHandle):
            key, leaf = self._file(path)
            if key.by_id:
                raise refuse(errno.EROFS, "truncate", path, BY_ID_READ_ONLY)
            if leaf != REQUEST_JSON:
                raise refuse(errno.EACCES, "truncate", path, f"{leaf} is read-only")
            # A truncate by path (no open handle) would replace the definition with
            # nothing, which is never valid: refuse it and keep the definition.
            raise FuseOSError(errno.EINVAL)
        del handle.data[length:]
        handle.data.extend(b"\0" * (length - len(handle.data)))
        handle.dirty = True
        self._check_partial(handle)

    def flush(self, path: str, fi: Any) -> None:
        """Validate and store a written request.json here: errors in release are never seen."""
        handle = self._handles.get(fi.fh)
        if not isinstance(handle, DefinitionHandle):
            return
        if handle.refused:
            raise FuseOSError(handle.refused)
        if handle.dirty and handle.data:  # empty: maybe a close of a dup'ed fd before the write
            handle.dirty = False
            try:
                self.drive.save_definition(handle.name, bytes(handle.data))
            except BoxZipError as exc:
                handle.refused = errno_for(exc)
                raise

    def release(self, path: str, fi: Any) -> None:
        with self._lock:
            handle = self._handles.pop(fi.fh, None)
        if isinstance(handle, ArchiveHandle):
            self.drive.close_archive(handle.download)
        elif isinstance(handle, DefinitionHandle) and handle.dirty and not handle.data:
            self.drive.note_emptied(handle.name)

    def utimens(self, path: str, times: Any = None) -> None:
        self._file(path)

    def chmod(self, path: str, mode: int) -> None:
        raise refuse(errno.EPERM, "chmod", path, "modes are fixed")

    def chown(self, path: str, uid: int, gid: int) -> None:
        raise refuse(errno.EPERM, "chown", path, "owners are fixed")

    def unlink(self, path: str) -> None:
        raise refuse(errno.EPERM, "unlink", path, "rmdir a request directory to remove the request")

    def rename(self, old: str, new: str) -> None:
        raise refuse(errno.EPERM, "rename", old, f"renaming is not supported; {ONLY_REQUEST_JSON}")

    def symlink(self, target: str, source: str) -> None:
        raise refuse(errno.EPERM, "symlink", target, "links are not supported")

    def link(self, target: str, source: str) -> None:
        raise refuse(errno.EPERM, "link", target, "links are not supported")

    def mknod(self, path: str, mode: int, dev: int) -> None:
        raise refuse(errno.EPERM, "mknod", path, ONLY_REQUEST_JSON)


OPERATIONS = (
    "getattr", "readdir", "mkdir", "rmdir", "statfs", "create", "open", "read", "write", "truncate",
    "flush", "release", "utimens", "chmod", "chown", "unlink", "rename", "symlink", "link", "mknod",
    "getxattr", "listxattr",
)  # fmt: skip
for _name in OPERATIONS:
    setattr(BoxZipOperations, _name, translated(getattr(BoxZipOperations, _name)))

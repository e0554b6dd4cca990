"""The mount's paths in filesystem-neutral terms: look up, list, open, extended attributes.

Layout::

    /NAME/request.json     the definition (write it to define the request)
    /NAME/request.zip      the archive, streamed from Box when opened
    /NAME/status.json      live state of NAME's latest download
    /by-id/folder-ID/...   the same for one Box folder (or file-ID), no definition needed
    /browse/A/B.pdf        Box by name: folders and files (a file is read out of its own zip)
    /archives/A.zip        folder A as one archive (its by-id download); /archives/A/ descends

``MountView`` is what the FUSE skin calls, the way ratarmount's ``MountSource``
offers lookup/list/open under a thin FUSE class: every path is parsed here, every
decision (what exists, its mode and size, what may be written, how an open file is
served) is made here, and every refusal is a :class:`~boxzipfs.errors.Refused`
carrying its errno and the reason to log. Nothing here knows FUSE.

request.zip is served as a non-seekable stream with direct I/O while its size is
unknown, so readers go to the true end of the archive (and sendfile, which would
trust st_size, fails over to plain reads); once complete its exact size is
reported and the page cache may keep it. Browse files have their exact size from
the folder listing, so they are ordinary cached files.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cachetools import LRUCache

from boxzipfs.drive import callers
from boxzipfs.drive.browse import ARCHIVES, BROWSE, DOWNLOADS_XATTR, STATUS_XATTR, BoxEntry, BrowseTree
from boxzipfs.drive.drive import BY_ID, Drive, Reader, RequestKey
from boxzipfs.drive.errnos import errno_for
from boxzipfs.drive.names import ARCHIVE_SUFFIX
from boxzipfs.drive.scratch import Scratch, ScratchFiles
from boxzipfs.errors import BoxZipError, Refused
from boxzipfs.options import DEFAULT_STREAMING_READERS

log = logging.getLogger(__name__)

REQUEST_JSON, REQUEST_ZIP, STATUS_JSON = "request.json", "request.zip", "status.json"
XATTR_MAX = 65536  # the kernel's limit for one xattr value
HEALTH_XATTR = "user.boxzipfs.health"  # on the mount's root: ready or not, and why (status --check)
API_XATTR = "user.boxzipfs.api"  # on the mount's root: its Box API calls by endpoint, and pacing

ONLY_REQUEST_JSON = (
    "a request directory holds request.json, request.zip and status.json; only request.json "
    "can be written (in place, or a temporary file renamed over it)"
)
BY_ID_READ_ONLY = "by-id/ is read-only: define a request directory to choose items"
BROWSE_READ_ONLY = "browse/ and archives/ mirror Box and are read-only"


@dataclass(frozen=True)
class Entry:
    """What a path is: a directory or a file, its permission bits, size and time.

    ``mtime_ns`` None: the time of the mount (directories of the mount's own).
    """

    is_dir: bool
    mode: int
    size: int = 0
    mtime_ns: int | None = None


@dataclass(frozen=True)
class Node:
    """What a path names: a directory (``leaf`` None) or one of a request's files."""

    kind: str  # "root", "by-id", "request", "browse", "archives"
    key: RequestKey | None = None
    leaf: str | None = None
    parts: tuple[str, ...] = ()  # below browse/ or archives/

    @property
    def in_box_tree(self) -> bool:
        return self.kind in (BROWSE, ARCHIVES)

    @property
    def is_archive(self) -> bool:
        return self.kind == ARCHIVES and bool(self.parts) and self.parts[-1].endswith(ARCHIVE_SUFFIX)


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
    raise Refused(errno.ENOENT, "no such file")


class OpenFile(Protocol):
    """An open file of the mount: how the kernel should serve it, its bytes, its attributes."""

    direct_io: bool  # every read comes here (the size may be unknown or the bytes may change)
    nonseekable: bool  # a stream: sendfile and splice must not trust st_size
    keep_cache: bool  # the bytes never change: the page cache may keep them across opens

    def entry(self) -> Entry:
        """The open file's attributes now (fstat on the descriptor)."""
        ...

    def read(self, offset: int, size: int) -> bytes: ...

    def read_into(self, offset: int, into: memoryview) -> int:
        """As ``read``, into the reply's own buffer; the count of bytes put there."""
        ...

    def write(self, data: bytes, offset: int) -> int: ...

    def truncate(self, length: int) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class _Copies:
    """``read_into`` for files whose bytes are in memory anyway: a copy of ``read``."""

    def read(self, offset: int, size: int) -> bytes:
        raise NotImplementedError

    def read_into(self, offset: int, into: memoryview) -> int:
        data = self.read(offset, len(into))
        into[: len(data)] = data
        return len(data)


class _ReadOnly(_Copies):
    direct_io = False
    nonseekable = False
    keep_cache = False

    def write(self, data: bytes, offset: int) -> int:
        raise Refused(errno.EBADF, "the file is open for reading only")

    def truncate(self, length: int) -> None:
        raise Refused(errno.EBADF, "the file is open for reading only")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class Snapshot(_ReadOnly):
    """Bytes fixed at open (status.json, a definition read back, an empty Box file)."""

    direct_io = True

    def __init__(
        self, data: bytes, mode: int = 0o444, mtime_ns: int | None = None, live_time: bool = False
    ) -> None:
        self.data = data
        self._mode = mode
        self._mtime_ns = mtime_ns
        self._live_time = live_time  # status.json: its time is always now

    def entry(self) -> Entry:
        mtime_ns = time.time_ns() if self._live_time else self._mtime_ns
        return Entry(False, self._mode, len(self.data), mtime_ns)

    def read(self, offset: int, size: int) -> bytes:
        return self.data[offset : offset + size]


class ArchiveFile(_ReadOnly):
    """An archive (or a browse file unpacked from its own archive) read from its download.

    While an archive streams its size is unknown (0). A program that reads to the end
    (``streams``) gets that at once and its bytes as they arrive. Any other program may
    trust the size its ``fstat`` gives after ``open`` (rsync sends exactly that many bytes
    and exits 0): its fstat waits until the archive is complete and gives the exact size,
    or fails with the download's error.
    """

    def __init__(self, archive: Reader, fixed: Entry | None = None, streams: bool = True) -> None:
        self._archive = archive
        self._fixed = fixed  # a browse file: its size and time are the listing's
        self._streams = streams
        streaming = fixed is None and not archive.complete
        self.direct_io = streaming
        # While the size is unknown the file is a stream: without this, sendfile and
        # splice (shutil.copyfile) trust st_size 0 and copy nothing, silently.
        self.nonseekable = streaming
        # Complete bytes never change: the page cache may serve re-reads with no daemon
        # work, but only if what it holds for this path is these bytes (``same_as_cached``:
        # MountView checks the version); otherwise the open drops the old pages.
        self.keep_cache = not streaming
        self.version = archive.version if fixed is None else (fixed.size, fixed.mtime_ns)

    def entry(self) -> Entry:
        if self._fixed is not None:
            return self._fixed
        if not self._streams and not self._archive.complete:
            self._archive.wait_done()
        size, mtime_ns = self._archive.attributes()
        return Entry(False, 0o444, size, mtime_ns)

    def read(self, offset: int, size: int) -> bytes:
        return self._archive.read(offset, size)

    def read_into(self, offset: int, into: memoryview) -> int:
        return self._archive.read_into(offset, into)

    def close(self) -> None:
        self._archive.close()


class DefinitionWriter(_Copies):
    """request.json open for writing: bytes are checked as they come (a refusal reaches the
    writing program at write), and stored whole at flush (errors at release are never seen)."""

    direct_io = True
    nonseekable = False
    keep_cache = False

    def __init__(
        self,
        drive: Drive,
        name: str,
        data: bytes = b"",
        dirty: bool = False,
        on_close: Callable[[DefinitionWriter], None] | None = None,
    ) -> None:
        self._drive = drive
        self.name = name
        self.data = bytearray(data)
        self.dirty = dirty
        self.refused = 0  # the errno every later write and the close report
        self._on_close = on_close

    def entry(self) -> Entry:
        return Entry(False, 0o644, len(self.data))

    def read(self, offset: int, size: int) -> bytes:
        return bytes(self.data[offset : offset + size])

    def write(self, data: bytes, offset: int) -> int:
        if self.refused:
            raise Refused(self.refused, "request.json was already refused")
        end = offset + len(data)
        if end > len(self.data):
            self.data.extend(b"\0" * (end - len(self.data)))
        self.data[offset:end] = data
        self.dirty = True
        self._check_partial()
        return len(data)

    def truncate(self, length: int) -> None:
        del self.data[length:]
        self.data.extend(b"\0" * (length - len(self.data)))
        self.dirty = True
        self._check_partial()

    def _check_partial(self) -> None:
        try:
            self._drive.check_partial_definition(self.name, bytes(self.data))
        except BoxZipError as exc:
            self.refused = errno_for(exc)
            self.dirty = False
            self.data = bytearray()
            raise

    def flush(self) -> None:
        if self.refused:
            raise Refused(self.refused, "request.json was refused")
        if self.dirty and self.data:  # empty: maybe a close of a dup'ed fd before the write
            self.dirty = False
            try:
                self._drive.save_definition(self.name, bytes(self.data))
            except BoxZipError as exc:
                self.refused = errno_for(exc)
                raise

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close(self)
        if self.dirty and not self.data:
            self._drive.note_emptied(self.name)


class ScratchFile(_Copies):
    """A scratch file open (see :mod:`boxzipfs.drive.scratch`)."""

    direct_io = True
    nonseekable = False
    keep_cache = False

    def __init__(self, scratch: Scratch) -> None:
        self._scratch = scratch

    def entry(self) -> Entry:
        return Entry(False, 0o644, len(self._scratch.data), self._scratch.mtime_ns)

    def read(self, offset: int, size: int) -> bytes:
        return bytes(self._scratch.data[offset : offset + size])

    def write(self, data: bytes, offset: int) -> int:
        return self._scratch.write(data, offset)

    def truncate(self, length: int) -> None:
        self._scratch.truncate(length)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class MountView:
    """The mount's tree over a :class:`Drive`: every path-level decision, no FUSE."""

    def __init__(
        self,
        drive: Drive,
        owner: tuple[int, int] = (-1, -1),
        streaming_readers: frozenset[str] = DEFAULT_STREAMING_READERS,
        api_usage: Callable[[], dict[str, object]] | None = None,
        health: Callable[[], dict[str, object]] | None = None,
        umask: int = 0,
    ) -> None:
        self.drive = drive
        self._api_usage = api_usage  # the mount's Box API calls by endpoint (the root's xattr)
        self._health = health  # the daemon's readiness verdict (the root's xattr)
        self.owner = owner  # (uid, gid) every file shows; chown to it changes nothing
        self.umask = umask  # bits taken from every mode shown
        self.streaming_readers = streaming_readers
        self.scratch = ScratchFiles()
        self._lock = threading.Lock()  # guards _writers and _cached_versions
        # The version of the bytes the page cache may hold for each path (bounded: a path
        # forgotten only costs its next open the cached pages).
        self._cached_versions: LRUCache[str, object] = LRUCache(maxsize=16384)
        # request.json files being written (created and not yet stored): a lookup sees them
        self._writers: dict[str, list[DefinitionWriter]] = {}

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

    # -- looking up and listing ------------------------------------------------------

    def _browse(self) -> BrowseTree:
        if self.drive.browse is None:
            raise Refused(errno.ENOENT, "this mount has no browse tree")
        return self.drive.browse

    def _box_entry(self, node: Node) -> BoxEntry:
        if node.kind == BROWSE:
            return self._browse().resolve(list(node.parts))
        return self._browse().resolve_archives(list(node.parts))

    def _leaves(self, key: RequestKey) -> list[str]:
        if self.drive.spec(key) is None:
            return [STATUS_JSON]
        return [REQUEST_JSON, REQUEST_ZIP, STATUS_JSON]

    def _request_node(self, path: str) -> Node:
        """A node inside a request directory that exists (ENOENT otherwise)."""
        node = parse_path(path)
        if node.key is None or not self.drive.exists(node.key):
            raise Refused(errno.ENOENT, "no such request")
        return node

    def lookup(self, path: str) -> Entry:
        """The entry at ``path``; ENOENT if there is none. A stat never starts a download
        (except of a request that asks to wait for its size) nor waits for one."""
        node = parse_path(path)
        if node.kind in ("root", "by-id"):
            return Entry(True, 0o755)
        if node.in_box_tree:
            entry = self._box_entry(node)
            if node.is_archive:
                size, mtime_ns = self.drive.archive_attributes(self.drive.folder_key(entry), may_wait=False)
                return Entry(False, 0o444, size, mtime_ns)
            if entry.kind == "folder":
                return Entry(True, 0o555, 0, entry.mtime_ns)
            return Entry(False, 0o444, entry.size or 0, entry.mtime_ns)
        node = self._request_node(path)
        assert node.key is not None
        if node.leaf is None:
            return Entry(True, 0o555 if node.key.by_id else 0o755)
        leaves = self._leaves(node.key)
        if node.leaf not in leaves:
            pending = self._writer(node.key.name) if node.leaf == REQUEST_JSON else None
            if pending is not None:  # created, not yet written: cp's fstat must see it
                return pending.entry()
            scratch = None if node.key.by_id else self.scratch.get(node.key.name, node.leaf)
            if scratch is None:
                raise Refused(errno.ENOENT, "no such file")
            return Entry(False, 0o644, len(scratch.data), scratch.mtime_ns)
        if node.leaf == REQUEST_JSON:
            data, written_ns = self.drive.definition_file(node.key)
            return Entry(False, 0o444 if node.key.by_id else 0o644, len(data), written_ns)
        if node.leaf == STATUS_JSON:
            return Entry(False, 0o444, len(self.drive.status(node.key, poll=False)), time.time_ns())
        size, mtime_ns = self.drive.archive_attributes(node.key)
        return Entry(False, 0o444, size, mtime_ns)

    def listdir(self, path: str) -> list[str]:
        """The names in the directory at ``path``."""
        node = parse_path(path)
        if node.kind == "root":
            trees = [BROWSE, ARCHIVES] if self.drive.browse is not None else []
            return [BY_ID, *trees, *self.drive.request_names()]
        if node.kind == "by-id":
            return self.drive.by_id_names()
        if node.in_box_tree:
            entry = self._box_entry(node)
            if node.is_archive or entry.kind != "folder":
                raise Refused(errno.ENOTDIR, "not a folder")
            listing = self._browse().listing(entry.id)
            if node.kind == BROWSE:
                return list(listing.files)
            return [*listing.dirs, *listing.archives]
        if node.leaf is not None:
            raise Refused(errno.ENOTDIR, "not a directory")
        node = self._request_node(path)
        assert node.key is not None
        names = self._leaves(node.key)
        if REQUEST_JSON not in names and self._writer(node.key.name) is not None:
            names.insert(0, REQUEST_JSON)
        return names + ([] if node.key.by_id else self.scratch.names(node.key.name))

    # -- directories --------------------------------------------------------------

    def _writable(self, path: str, reserved: str) -> Node:
        """A path in the mount's own tree of requests (browse/, archives/, by-id/ are read-only)."""
        node = parse_path(path)
        if node.in_box_tree:
            raise Refused(errno.EROFS, BROWSE_READ_ONLY)
        if node.kind != "request" or node.key is None:
            raise Refused(errno.EPERM, reserved)
        if node.key.by_id:
            raise Refused(errno.EROFS, BY_ID_READ_ONLY)
        return node

    def mkdir(self, path: str) -> None:
        node = self._writable(path, "that name is reserved")
        if node.leaf is not None:
            raise Refused(errno.EPERM, ONLY_REQUEST_JSON)
        assert node.key is not None
        self.drive.make(node.key.name)

    def rmdir(self, path: str) -> None:
        node = self._writable(path, "only request directories can be removed")
        if node.leaf is not None:
            raise Refused(errno.ENOTDIR, "not a directory")
        assert node.key is not None
        self.drive.remove(node.key.name)
        self.scratch.forget(node.key.name)

    # -- files ------------------------------------------------------------------------

    def create(self, path: str) -> OpenFile:
        """A new request.json, open for writing; anything else is refused with the reason."""
        node = self._writable(path, "that name is reserved")
        assert node.key is not None
        if node.leaf is None:
            if self.drive.exists(node.key):
                raise Refused(errno.EISDIR, "a request directory")
            raise Refused(
                errno.EPERM, "files cannot be created at the top: mkdir NAME, then write NAME/request.json"
            )
        if not self.drive.exists(node.key):
            raise Refused(errno.ENOENT, "no such request")
        if node.leaf in (REQUEST_ZIP, STATUS_JSON):
            raise Refused(errno.EACCES, f"{node.leaf} is read-only")
        if node.leaf != REQUEST_JSON:  # the temporary file of a write-then-rename
            return ScratchFile(self.scratch.create(node.key.name, node.leaf))
        return self._new_writer(node.key.name, b"", dirty=True)

    def _reads_to_the_end(self, caller: int | None) -> bool:
        """Whether the calling process is one known to read to the end (by its name)."""
        return caller is not None and callers.name(caller) in self.streaming_readers

    def open(self, path: str, writing: bool, truncate: bool, caller: int | None = None) -> OpenFile:
        """Open for reading (an archive joins or starts its download and returns once bytes
        can flow, or raises why not) or, request.json only, for writing. ``caller``: the
        process's ID, which says whether its fstat may see an archive's unknown size."""
        node = parse_path(path)
        if node.in_box_tree:
            if writing:
                raise Refused(errno.EROFS, BROWSE_READ_ONLY)
            return self._open_box(path, node, caller)
        if node.leaf is None:
            raise Refused(errno.EISDIR, "a directory")
        node = self._request_node(path)
        key, leaf = node.key, node.leaf
        assert key is not None and leaf is not None
        if leaf not in self._leaves(key):
            scratch = None if key.by_id else self.scratch.get(key.name, leaf)
            if scratch is None:
                raise Refused(errno.ENOENT, "no such file")
            if truncate:
                scratch.truncate(0)
            return ScratchFile(scratch)
        if writing and key.by_id:
            raise Refused(errno.EROFS, BY_ID_READ_ONLY)
        if writing and leaf != REQUEST_JSON:
            raise Refused(errno.EACCES, f"{leaf} is read-only")
        if leaf == REQUEST_JSON:
            current, mtime_ns = self.drive.definition_file(key)
            if writing:
                return self._new_writer(key.name, b"" if truncate else current, truncate)
            return Snapshot(current, 0o444 if key.by_id else 0o644, mtime_ns)
        if leaf == STATUS_JSON:
            return Snapshot(self.drive.status(key), live_time=True)
        opened = ArchiveFile(self.drive.open_archive(key), streams=self._reads_to_the_end(caller))
        return self._cache_only_same(path, opened)

    def _cache_only_same(self, path: str, opened: ArchiveFile) -> ArchiveFile:
        """keep_cache only when the page cache can hold nothing but these bytes for ``path``:
        the version last opened there was this one. Any other open drops the cached pages,
        whatever the kernel made of the attributes (a change of the same size and second)."""
        # Every open records its version: one without keep_cache (a stream, or another
        # version) has just dropped the cached pages, so afterwards only this version's are there.
        with self._lock:
            same = self._cached_versions.get(path) == opened.version
            self._cached_versions[path] = opened.version
        opened.keep_cache = opened.keep_cache and same
        return opened

    def _open_box(self, path: str, node: Node, caller: int | None) -> OpenFile:
        """A browse file (unpacked from its own zip) or a folder's archive."""
        entry = self._box_entry(node)
        if node.is_archive:
            archive = self.drive.open_archive(self.drive.folder_key(entry))
            return self._cache_only_same(path, ArchiveFile(archive, streams=self._reads_to_the_end(caller)))
        if node.kind == ARCHIVES or entry.kind == "folder":
            raise Refused(errno.EISDIR, "a folder")
        # The size is exact (the listing's): an ordinary file the page cache may keep, as long
        # as the listing shows the same version (a changed one drops the pages at open).
        fixed = Entry(False, 0o444, entry.size or 0, entry.mtime_ns)
        if entry.size == 0:
            empty = Snapshot(b"")
            empty.keep_cache, empty.direct_io = True, False
            return empty
        return self._cache_only_same(path, ArchiveFile(self.drive.open_file(entry, path.lstrip("/")), fixed))

    def truncate(self, path: str, length: int) -> None:
        """A truncate by path (no open handle) of a scratch file; of request.json it would
        replace the definition with nothing, which is never valid: refused, the definition kept."""
        node = parse_path(path)
        if node.in_box_tree:
            raise Refused(errno.EROFS, BROWSE_READ_ONLY)
        if node.leaf is None:
            raise Refused(errno.EISDIR, "a directory")
        node = self._request_node(path)
        assert node.key is not None and node.leaf is not None
        if node.key.by_id:
            raise Refused(errno.EROFS, BY_ID_READ_ONLY)
        scratch = self.scratch.get(node.key.name, node.leaf)
        if scratch is not None:
            scratch.truncate(length)
            return
        if node.leaf != REQUEST_JSON:
            raise Refused(errno.EACCES, f"{node.leaf} is read-only")
        raise Refused(errno.EINVAL, "request.json cannot be emptied; write the new definition instead")

    def touch(self, path: str) -> None:
        """utimens: accepted on files that exist (editors and cp -p set times). Touching a
        defined request.json asks for a fresh archive: the next read creates a new one."""
        node = parse_path(path)
        if node.in_box_tree:
            raise Refused(errno.EROFS, BROWSE_READ_ONLY)
        if node.leaf is None:
            raise Refused(errno.EISDIR, "a directory")
        self.lookup(path)
        if node.leaf == REQUEST_JSON and node.key is not None and self.drive.spec(node.key) is not None:
            self.drive.refresh(node.key)

    def _own_file(self, path: str) -> Node:
        """request.json or a scratch file of a request directory, which exists."""
        node = self._writable(path, "only files in request directories can change")
        if node.leaf is None or node.leaf in (REQUEST_ZIP, STATUS_JSON):
            raise Refused(errno.EPERM, "modes and owners are fixed")
        self.lookup(path)
        return node

    def chmod(self, path: str) -> None:
        """Accepted on request.json and scratch files, changing nothing (shutil.copy, install
        and rsync set the mode of what they write); every other file's mode is fixed."""
        self._own_file(path)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """To the owner every file shows (install and cp -p as root do it): nothing changes."""
        self._own_file(path)
        if uid not in (-1, self.owner[0]) or gid not in (-1, self.owner[1]):
            raise Refused(errno.EPERM, "owners are fixed")

    def unlink(self, path: str) -> None:
        """A scratch file goes; request.json goes as a file does (the request stays, undefined,
        until a new one is written: install replaces a file that way); a request goes with its
        directory (rmdir)."""
        node = self._writable(path, "rmdir a request directory to remove the request")
        assert node.key is not None
        if node.leaf is not None and self.scratch.get(node.key.name, node.leaf) is not None:
            self.scratch.remove(node.key.name, node.leaf)
            return
        if node.leaf == REQUEST_JSON and self.drive.exists(node.key):
            self.drive.undefine(node.key.name)
            return
        if node.leaf in (REQUEST_ZIP, STATUS_JSON):
            raise Refused(errno.EACCES, f"{node.leaf} is read-only: rmdir the request directory to remove it")
        raise Refused(errno.ENOENT, "no such file")

    def rename(self, old: str, new: str) -> None:
        """A scratch file renamed over request.json replaces the definition at once (validated
        first: a bad one is refused and both files stay as they were), or takes another name."""
        source = self._writable(old, "renaming is not supported")
        target = self._writable(new, "renaming is not supported")
        assert source.key is not None and target.key is not None
        if source.leaf is None or target.leaf is None or source.key != target.key:
            raise Refused(errno.EPERM, "only files within one request directory can be renamed")
        scratch = self.scratch.get(source.key.name, source.leaf)
        if scratch is None:
            raise Refused(errno.EPERM, "request.json is written in place or replaced, never renamed away")
        if target.leaf in (REQUEST_ZIP, STATUS_JSON):
            raise Refused(errno.EACCES, f"{target.leaf} is read-only")
        if target.leaf == REQUEST_JSON:
            self.drive.save_definition(source.key.name, bytes(scratch.data))
            self.scratch.remove(source.key.name, source.leaf)
            return
        self.scratch.rename(source.key.name, source.leaf, target.leaf)

    # -- extended attributes ----------------------------------------------------------

    def _status_of(self, path: str) -> bytes | None:
        """The live status of the archive or browse file at ``path``; None for anything else."""
        node = parse_path(path)
        if node.kind == BROWSE and node.parts:
            entry = self._box_entry(node)
            return None if entry.kind == "folder" else self.drive.file_status(entry, path.lstrip("/"))
        if node.is_archive:
            return self.drive.status(self.drive.folder_key(self._box_entry(node)))
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

    def getxattr(self, path: str, name: str) -> bytes:
        if name == DOWNLOADS_XATTR and path == f"/{BROWSE}" and self.drive.browse is not None:
            return self._browse_downloads()
        if name == API_XATTR and path == "/" and self._api_usage is not None:
            return json.dumps(self._api_usage()).encode()
        if name == HEALTH_XATTR and path == "/" and self._health is not None:
            return json.dumps(self._health()).encode()
        status = self._status_of(path) if name == STATUS_XATTR else None
        if status is None:
            raise Refused(errno.ENODATA, "no such attribute")
        return status

    def listxattr(self, path: str) -> list[str]:
        if path == "/":
            sources = ((API_XATTR, self._api_usage), (HEALTH_XATTR, self._health))
            return [name for name, source in sources if source is not None]
        if path == f"/{BROWSE}" and self.drive.browse is not None:
            return [DOWNLOADS_XATTR]
        return [STATUS_XATTR] if self._status_of(path) is not None else []

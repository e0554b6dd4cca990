"""The mount's open files: how each is served to the kernel, its bytes and attributes.

A tree's ``open`` answers one of these; the FUSE skin keeps it per handle and calls
``read_into``/``write``/``flush``/``close`` on it. :class:`Opener` decides, for an
archive, whether the kernel's page cache may keep its bytes across opens.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cachetools import LRUCache

from boxzipfs.drive import callers
from boxzipfs.drive.drive import Drive, Reader
from boxzipfs.drive.errnos import errno_for
from boxzipfs.drive.scratch import Scratch
from boxzipfs.errors import BoxZipError, Refused


@dataclass(frozen=True)
class Entry:
    """What a path is: a directory or a file, its permission bits, size and time.

    ``mtime_ns`` None: the time of the mount (directories of the mount's own).
    """

    is_dir: bool
    mode: int
    size: int = 0
    mtime_ns: int | None = None



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
        # Opener checks the version); otherwise the open drops the old pages.
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


class Opener:
    """Archives opened for reading, with the two decisions every tree makes the same way.

    Whether the calling program reads to the end (by its name: it may see an unknown
    size at once) and whether the page cache may keep what it holds for a path.
    """

    def __init__(self, streaming_readers: frozenset[str]) -> None:
        self.streaming_readers = streaming_readers
        self._lock = threading.Lock()  # guards _cached_versions
        # The version of the bytes the page cache may hold for each path (bounded: a path
        # forgotten only costs its next open the cached pages).
        self._cached_versions: LRUCache[str, object] = LRUCache(maxsize=16384)

    def reads_to_the_end(self, caller: int | None) -> bool:
        """Whether the calling process is one known to read to the end (by its name)."""
        return caller is not None and callers.name(caller) in self.streaming_readers

    def archive(self, path: str, archive: Reader, caller: int | None) -> ArchiveFile:
        """An archive being downloaded (or complete), open for ``caller``."""
        return self.cache_only_same(path, ArchiveFile(archive, streams=self.reads_to_the_end(caller)))

    def cache_only_same(self, path: str, opened: ArchiveFile) -> ArchiveFile:
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

"""Spool: a download's bytes on disk as they stream in, readable at any offset.

The download thread opens it (so a failure to create it is the download's
error, shown in status.json). One writer appends; any number of readers read at any offset and wait on a
condition until the bytes are there, the archive ended, or it failed. A read
past the end of a complete spool returns ``b""``; once failed, every read raises
the failure, so no reader can mistake a truncated archive for a complete one.
Memory use is independent of the archive's size: bytes go straight to the file.

Descriptors follow use, not age: the file is open while its writer writes or a
reader holds it (``attach``/``detach``), and closed otherwise, so a mount that
keeps thousands of spools for reuse holds only the descriptors of what is read now.

A spool is written over in place when a SpoolPool hands it an old spool's file:
on these VMs pages already in the page cache cost a tenth of fresh ones.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

from boxzipfs.errors import BoxZipError, DiskFull, SpoolError, again

IOV_MAX = 1024


class Spool:
    """Append-only file with blocking positional reads."""

    def __init__(self, path: Path, recycle: Callable[[Path], None] | None = None) -> None:
        self.path = path
        self._recycle = recycle
        self._fd = -1
        # Guards every attribute below; readers wait on it.
        self._cond = threading.Condition()
        self._length = 0
        self._complete = False
        self._error: BoxZipError | None = None
        self._closed = False
        self._inflight = 0
        self._created = False  # the file exists (discard must recycle or delete it)
        self._writing = False  # the writer holds the descriptor
        self._readers = 0  # readers that hold it (attach/detach)

    def open(self) -> None:
        """Create the file, or write over one left there to reuse; SpoolError (DiskFull) says
        why it cannot be. Old bytes past ``length`` are never read, and finish cuts them."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise spool_error("cannot create the spool", exc) from None
        with self._cond:
            if self._closed:  # discarded before it was opened
                os.close(fd)
                self.path.unlink(missing_ok=True)
                return
            self._fd = fd
            self._created = self._writing = True

    def attach(self) -> None:
        """A reader comes: the descriptor stays open until it detaches."""
        with self._cond:
            self._readers += 1

    def detach(self) -> None:
        """A reader leaves: the descriptor closes once nobody uses it."""
        with self._cond:
            self._readers -= 1
            self._close_unused()

    def _close_unused(self) -> None:
        """Close the descriptor if no writer, reader or read in flight needs it (lock held)."""
        if self._fd >= 0 and not self._writing and self._readers <= 0 and self._inflight == 0:
            os.close(self._fd)
            self._fd = -1

    def _reopen(self) -> int:
        """The descriptor for a read of a finished spool, opened again if it was closed."""
        if self._fd < 0:
            try:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise spool_error("cannot reopen the spool", exc) from None
        return self._fd

    @property
    def length(self) -> int:
        with self._cond:
            return self._length

    @property
    def complete(self) -> bool:
        with self._cond:
            return self._complete

    @property
    def error(self) -> BoxZipError | None:
        with self._cond:
            return self._error

    def append(self, chunks: list[bytes]) -> None:
        """Write ``chunks`` at the end (one vectored write) and wake readers waiting for them."""
        offset = self.length
        pending = [memoryview(c) for c in chunks if c]
        while pending:
            try:
                written = os.pwritev(self._fd, pending[:IOV_MAX], offset)
            except OSError as exc:
                raise spool_error("cannot write the spool", exc) from None
            offset += written
            while pending and written >= len(pending[0]):
                written -= len(pending[0])
                pending.pop(0)
            if pending and written:
                pending[0] = pending[0][written:]
        with self._cond:
            self._length = offset
            self._cond.notify_all()

    def finish(self) -> None:
        """The archive ended and was checked: reads past the end now return b''."""
        with self._cond:
            if self._fd >= 0:
                with contextlib.suppress(OSError):  # a reused file's old tail; never read anyway
                    os.ftruncate(self._fd, self._length)
            self._complete = True
            self._writing = False
            self._close_unused()
            self._cond.notify_all()

    def fail(self, error: BoxZipError) -> None:
        """The archive will never be complete: every read now raises ``error``."""
        with self._cond:
            if self._error is None and not self._complete:
                self._error = error
            self._writing = False
            self._close_unused()
            self._cond.notify_all()

    def read(self, offset: int, size: int, timeout: float | None = None) -> bytes:
        """Up to ``size`` bytes at ``offset``; waits until they exist or the spool is done.

        Raises the spool's failure, or TimeoutError after ``timeout`` seconds.
        """
        fd, available = self._wait_readable(offset, size, timeout)
        if available <= 0:
            return b""
        try:
            return os.pread(fd, available, offset)
        finally:
            self._read_done()

    def read_into(self, offset: int, into: memoryview, timeout: float | None = None) -> int:
        """As :meth:`read`, into ``into`` (libfuse's reply buffer: no bytes object, no second
        copy); the count of bytes put there."""
        fd, available = self._wait_readable(offset, len(into), timeout)
        if available <= 0:
            return 0
        try:
            return os.preadv(fd, [into[:available]], offset)
        finally:
            self._read_done()

    def _wait_readable(self, offset: int, size: int, timeout: float | None) -> tuple[int, int]:
        """Wait for ``size`` bytes at ``offset`` (or the end): the descriptor to read them from
        and how many exist (a read in flight from then on, unless none)."""
        end = offset + size
        with self._cond:
            ready = self._cond.wait_for(
                lambda: self._error is not None or self._complete or self._length >= end, timeout
            )
            if self._error is not None:
                raise again(self._error)
            if not ready:
                raise TimeoutError("no bytes arrived in time")
            available = min(end, self._length) - offset
            if available <= 0:
                return -1, 0
            fd = self._reopen()
            self._inflight += 1
            return fd, available

    def _read_done(self) -> None:
        with self._cond:
            self._inflight -= 1
            self._close_unused()
            self._cond.notify_all()

    def wait_done(self, timeout: float | None = None) -> int:
        """Block until the spool is complete (returns its size) or failed (raises)."""
        with self._cond:
            self._cond.wait_for(lambda: self._error is not None or self._complete, timeout)
            if self._error is not None:
                raise again(self._error)
            if not self._complete:
                raise TimeoutError("the archive is still streaming")
            return self._length

    def pread(self, offset: int, size: int) -> bytes:
        """Bytes already written, without waiting (the writer's own re-check of a resumed stream)."""
        return os.pread(self._fd, size, offset)

    def tail(self, size: int) -> bytes:
        """The last ``size`` bytes written so far."""
        length = self.length
        start = max(0, length - size)
        return os.pread(self._fd, length - start, start)

    def discard(self) -> None:
        """Let go of the file once in-flight reads are done (a complete one to the recycler,
        anything else deleted); later reads raise."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            reusable = self._complete  # a failed or abandoned spool's disk is given back at once
            self._complete = False
            self._error = self._error or BoxZipError("the spool was discarded")
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._inflight == 0)
            fd, self._fd = self._fd, -1
            created = self._created
        if fd >= 0:
            os.close(fd)
        if created:
            if self._recycle is not None and reusable:
                self._recycle(self.path)
            else:
                self.path.unlink(missing_ok=True)


class SpoolPool:
    """Files of spools that are done, kept to be written over by the next downloads.

    At most ``keep`` files, named ``free-N.spool`` in the cache dir (so a restart's
    clean-up removes them); ``bytes`` counts them against the cache budget.
    """

    def __init__(self, cache_dir: Path, keep: int = 2) -> None:
        self._dir = cache_dir
        self._keep = keep
        self._lock = threading.Lock()  # guards _free
        self._free: list[tuple[Path, int]] = []
        self._names = iter(range(1, 1 << 62))

    @property
    def bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._free)

    def give(self, path: Path) -> None:
        """Keep a done spool's file for reuse (or delete it when enough are kept)."""
        try:
            size = path.stat().st_size
            with self._lock:
                if len(self._free) < self._keep and size > 0:
                    free = self._dir / f"free-{next(self._names)}.spool"
                    path.rename(free)
                    self._free.append((free, size))
                    return
            path.unlink(missing_ok=True)
        except OSError:
            path.unlink(missing_ok=True)

    def take(self, path: Path) -> bool:
        """Move the largest kept file to ``path``; False when none is kept."""
        with self._lock:
            if not self._free:
                return False
            self._free.sort(key=lambda entry: entry[1])
            free, _ = self._free.pop()
        try:
            free.rename(path)
        except OSError:
            free.unlink(missing_ok=True)
            return False
        return True

    def drop(self) -> int:
        """Delete the largest kept file (to keep the cache budget); its size, 0 if none."""
        with self._lock:
            if not self._free:
                return 0
            self._free.sort(key=lambda entry: entry[1])
            free, size = self._free.pop()
        free.unlink(missing_ok=True)
        return size


def spool_error(what: str, exc: OSError) -> SpoolError:
    """SpoolError (DiskFull for ENOSPC) naming the cause, never a path in the user's words."""
    cls = DiskFull if exc.errno in (errno.ENOSPC, errno.EDQUOT) else SpoolError
    return cls(f"{what}: {exc.strerror}")

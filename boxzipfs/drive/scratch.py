"""Scratch files in a request directory: the temporary file of a write-then-rename.

rsync, sed -i, install, many editors and atomic-save libraries write a new file
beside the target, then rename it over the target. A request directory therefore
accepts any other name as a scratch file, held in memory: readable, writable,
removable, and renamed over request.json as one atomic replacement of the
definition (validated then; a bad one is refused and the old one stays). Scratch
files are small (the definition's limit), few per directory, and gone at unmount.
"""

from __future__ import annotations

import errno
import threading
import time
from dataclasses import dataclass, field

from boxzipfs.errors import Refused

MAX_SCRATCH_BYTES = (1 << 20) + (64 << 10)  # request.json's limit and some room
MAX_SCRATCH_FILES = 8  # per request directory


@dataclass
class Scratch:
    data: bytearray = field(default_factory=bytearray)
    mtime_ns: int = field(default_factory=time.time_ns)

    def write(self, data: bytes, offset: int) -> int:
        end = offset + len(data)
        if end > MAX_SCRATCH_BYTES:
            raise Refused(errno.EFBIG, "a file in a request directory holds at most a definition's 1 MiB")
        if end > len(self.data):
            self.data.extend(b"\0" * (end - len(self.data)))
        self.data[offset:end] = data
        self.mtime_ns = time.time_ns()
        return len(data)

    def truncate(self, length: int) -> None:
        if length > MAX_SCRATCH_BYTES:
            raise Refused(errno.EFBIG, "a file in a request directory holds at most a definition's 1 MiB")
        del self.data[length:]
        self.data.extend(b"\0" * (length - len(self.data)))
        self.mtime_ns = time.time_ns()


class ScratchFiles:
    """The scratch files of every request directory, by (request, name)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _files
        self._files: dict[tuple[str, str], Scratch] = {}

    def get(self, request: str, name: str) -> Scratch | None:
        with self._lock:
            return self._files.get((request, name))

    def names(self, request: str) -> list[str]:
        with self._lock:
            return sorted(name for owner, name in self._files if owner == request)

    def create(self, request: str, name: str) -> Scratch:
        """A new (or emptied) scratch file; ENOSPC past the number allowed."""
        with self._lock:
            existing = self._files.get((request, name))
            if existing is not None:
                existing.truncate(0)
                return existing
            if sum(1 for owner, _ in self._files if owner == request) >= MAX_SCRATCH_FILES:
                raise Refused(
                    errno.ENOSPC, f"a request directory holds at most {MAX_SCRATCH_FILES} temporary files"
                )
            scratch = self._files[(request, name)] = Scratch()
            return scratch

    def remove(self, request: str, name: str) -> Scratch:
        with self._lock:
            scratch = self._files.pop((request, name), None)
        if scratch is None:
            raise Refused(errno.ENOENT, "no such file")
        return scratch

    def rename(self, request: str, old: str, new: str) -> None:
        with self._lock:
            scratch = self._files.pop((request, old), None)
            if scratch is None:
                raise Refused(errno.ENOENT, "no such file")
            self._files[(request, new)] = scratch

    def forget(self, request: str) -> None:
        """The request directory is gone: so are its scratch files."""
        with self._lock:
            for key in [key for key in self._files if key[0] == request]:
                del self._files[key]

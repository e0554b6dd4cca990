"""The readiness pipe between ``boxzipfs mount`` and its background daemon.

The parent passes the write end's number in ``BOXZIPFS_READY_FD``. The daemon
writes ``ready`` once the kernel has the mount (FUSE's init), or ``error:
MESSAGE`` when it cannot mount; the parent reports exactly that. A daemon that
dies without a word closes the pipe, which the parent sees as EOF. Polling the
mountpoint instead would mistake someone else's mount there for ours.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Iterator

ENV = "BOXZIPFS_READY_FD"


TIMEOUT = "timeout"


class Notifier:
    """The daemon's end: any ``warning:`` lines, then ``ready`` or ``error:`` once, then closed."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def from_environment(cls) -> Notifier:
        value = os.environ.pop(ENV, "")
        return cls(int(value) if value.isdigit() else None)

    def _write(self, line: str) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.write(self._fd, (line.replace("\n", " ") + "\n").encode())

    def _final(self, line: str) -> None:
        self._write(line)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def warn(self, message: str) -> None:
        self._write(f"warning: {message}")

    def ready(self) -> None:
        self._final("ready")

    def failed(self, message: str) -> None:
        self._final(f"error: {message}")


def read_lines(fd: int, timeout: float) -> Iterator[str]:
    """The daemon's lines as they come; ``TIMEOUT`` if it says nothing final in time; ends at EOF."""
    deadline = time.monotonic() + timeout
    pending = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            yield TIMEOUT
            return
        chunk = os.read(fd, 4096)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            yield line.decode(errors="replace").strip()

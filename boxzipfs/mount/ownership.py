"""Exclusive ownership of a mount's state and cache directories.

A daemon takes a ``flock`` on a ``.lock`` file in each directory and holds it
for its whole life; the kernel drops it when the process dies, even by SIGKILL.
A second mount that would use the same directories fails before it touches
anything (no spool cleaning, no definitions written).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from boxzipfs.errors import MountError

LOCK_NAME = ".lock"


class DirectoryLock:
    """Holds ``DIR/.lock`` exclusively; the file says which mount owns DIR."""

    def __init__(self, directory: Path, role: str) -> None:
        self.directory = directory
        self.role = role
        self._fd: int | None = None

    def acquire(self, mountpoint: Path) -> None:
        """Take the lock or raise MountError naming the owner; never blocks."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise MountError(f"cannot use {self.role} directory {self.directory}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another mount"
            os.close(fd)
            raise MountError(
                f"{self.role} directory {self.directory} is in use by {owner}; "
                "unmount that first or give this mount its own --state-dir/--cache-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"the mount at {mountpoint} (pid {os.getpid()})\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def clean_dead_caches(base: Path, own: Path) -> tuple[int, int]:
    """Remove the spools of cache directories under ``base`` whose mount is gone (their lock is
    free: a killed daemon's), and those directories; (spools removed, bytes). Never touches a
    live mount's directory, nor anything but spools and the lock file."""
    removed = freed = 0
    if not base.is_dir():
        return 0, 0
    for directory in base.iterdir():
        lock = directory / LOCK_NAME
        if directory == own or not lock.is_file():
            continue
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live mount's
        try:
            for spool in directory.glob("*.spool"):
                try:
                    size = spool.stat().st_size
                    spool.unlink()
                except OSError:
                    continue
                removed, freed = removed + 1, freed + size
            lock.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                directory.rmdir()  # only if nothing else is in it
        finally:
            os.close(fd)
    return removed, freed

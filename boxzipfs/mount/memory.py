"""Keep a long-running daemon's memory flat.

glibc gives each thread that allocates its own arena (up to 8 per core) and
keeps freed memory in them, so a FUSE daemon whose worker threads allocate a
128 KiB buffer per read slowly grows with the length of what it serves. Two
arenas are plenty for this workload.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def tune_malloc(arenas: int = 2, mmap_threshold: int = 16 << 20, trim_threshold: int = 64 << 20) -> bool:
    """Cap glibc's malloc arenas and fix its thresholds (call before starting threads).

    Fixed thresholds keep glibc from handing big buffers (socket reads, spool
    batches) back to the kernel and faulting fresh pages in for the next one,
    which these VMs charge dearly for. False where mallopt is unsupported.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        settings = (
            (M_ARENA_MAX, arenas),
            (M_MMAP_THRESHOLD, mmap_threshold),
            (M_TRIM_THRESHOLD, trim_threshold),
        )
        return all(libc.mallopt(option, value) for option, value in settings)
    except (OSError, AttributeError):
        log.debug("mallopt is not available here")
        return False


def trim_malloc() -> None:
    """Give freed heap back to the system (after many downloads were let go while idle)."""
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):
        log.debug("malloc_trim is not available here")

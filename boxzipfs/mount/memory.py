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


def limit_malloc_arenas(count: int = 2) -> bool:
    """Cap glibc's malloc arenas (call before starting threads); False where unsupported."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_ARENA_MAX, count))
    except (OSError, AttributeError):
        log.debug("mallopt is not available here")
        return False

"""Who is calling: a process's thread group (the program) and its name, from /proc.

FUSE tells the ID of the thread that made a request. Two uses: whether a program is
one known to read an archive to its end (by name), and whether a stat comes from a
program that has the file open (its fstat: the kernel sends no handle with it).

Both are asked at every open and at the fstat that follows, and reading /proc costs
tens of microseconds, on the path of every file a ``cp -r`` copies: answers are kept
for a second. A thread ID is not reused within a second (the kernel cycles through
``pid_max`` IDs first), so a kept answer is never another program's.
"""

from __future__ import annotations

import threading
from pathlib import Path

from cachetools import TTLCache

KEEP_SECONDS = 1.0
_programs: TTLCache[int, int] = TTLCache(maxsize=4096, ttl=KEEP_SECONDS)
_names: TTLCache[int, str | None] = TTLCache(maxsize=4096, ttl=KEEP_SECONDS)
_lock = threading.Lock()  # guards both caches (cachetools' are not thread-safe)


def program(tid: int) -> int:
    """The thread group (process) ID of thread ``tid``; ``tid`` itself if /proc cannot say."""
    with _lock:
        known = _programs.get(tid)
    if known is not None:
        return known
    found = tid
    try:
        for line in Path(f"/proc/{tid}/status").read_text().splitlines():
            if line.startswith("Tgid:"):
                found = int(line.split()[1])
                break
    except (OSError, ValueError, IndexError):
        return tid  # gone, or not ours to see: not kept
    with _lock:
        _programs[tid] = found
    return found


def name(tid: int) -> str | None:
    """The program's name (``comm``, at most 15 characters), None if it is gone."""
    pid = program(tid)
    with _lock:
        if pid in _names:
            return _names[pid]
    try:
        found: str | None = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    with _lock:
        _names[pid] = found
    return found

"""Who is calling: a process's thread group (the program) and its name, from /proc.

FUSE tells the ID of the thread that made a request. Two uses: whether a program is
one known to read an archive to its end (by name), and whether a stat comes from a
program that has the file open (its fstat: the kernel sends no handle with it).
"""

from __future__ import annotations

from pathlib import Path


def program(tid: int) -> int:
    """The thread group (process) ID of thread ``tid``; ``tid`` itself if /proc cannot say."""
    try:
        for line in Path(f"/proc/{tid}/status").read_text().splitlines():
            if line.startswith("Tgid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return tid


def name(tid: int) -> str | None:
    """The program's name (``comm``, at most 15 characters), None if it is gone."""
    try:
        return Path(f"/proc/{program(tid)}/comm").read_text().strip()
    except OSError:
        return None

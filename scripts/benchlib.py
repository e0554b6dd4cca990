"""Pieces the benchmark scripts share: a daemon mounted for one round, CPU time, spreads."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@contextmanager
def mounted_daemon(
    work: Path, tag: str, url: str, token: str, *extra: str, cache: str | None = None
) -> Iterator[tuple[Path, int]]:
    """A fresh ``boxzipfs mount`` of the server at ``url`` under ``work``; yields (mountpoint, pid).
    ``cache``: the tag of an earlier mount whose cache directory this one takes over (a remount)."""
    mnt = work / f"mnt-{tag}"
    mnt.mkdir()
    dirs = ["--state-dir", str(work / f"st-{tag}"), "--cache-dir", str(work / f"c-{cache or tag}")]
    argv = [sys.executable, "-m", "boxzipfs", "mount", str(mnt), "--foreground", "-q", "--api-url", url,
            "--api-calls-per-minute", "1000000000"]  # no rate limit on the local server: measure the daemon
    argv += [*dirs, *extra]
    process = subprocess.Popen(argv, env={**os.environ, "BOX_ACCESS_TOKEN": token})
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(mnt):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("mount failed")
            time.sleep(0.05)
        yield mnt, process.pid
    finally:
        subprocess.run(["fusermount", "-u", str(mnt)], check=False)
        process.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def spread(values: list[float]) -> str:
    """min, median and max, aligned."""
    return f"{min(values):7.2f} {statistics.median(values):7.2f} {max(values):7.2f}"

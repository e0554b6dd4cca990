"""Mount boxzipfs for real in tests: start the CLI in the foreground, wait for the
mount, dump the log if it never comes, and always unmount (lazily if need be).

Like pyfuse3's test utilities, every mount is checked when it ends: the daemon
must exit 0 (or the status the test expects), leave nothing mounted, and write no
traceback, warning or error to its log, except lines the test declares expected
with ``@pytest.mark.daemon_log(r"regex", ...)`` (or ``allow=`` here).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# Set for each test from its daemon_log marker (tests/conftest.py).
ALLOWED: list[str] = []
BAD_LINE = re.compile(r"Traceback \(most recent call last\)|^\S+ \S+ (WARNING|ERROR|CRITICAL) |\w+Warning: ")


class MountFailed(AssertionError):
    pass


def unexpected_lines(text: str, allow: Sequence[str] = ()) -> list[str]:
    """Lines of a daemon log that no test expects: tracebacks, warnings, errors."""
    patterns = [re.compile(p) for p in [*ALLOWED, *allow]]
    return [
        line
        for line in text.splitlines()
        if BAD_LINE.search(line) and not any(p.search(line) for p in patterns)
    ]


@contextmanager
def mounted(
    mountpoint: Path,
    args: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    timeout: float = 20.0,
    allow: Sequence[str] = (),
    expect_exit: int | None = 0,
    wrap: Sequence[str] = (),
) -> Iterator[subprocess.Popen[bytes]]:
    """Mount, yield the daemon, then unmount and check the daemon's end (``expect_exit``
    None: the test ends the daemon itself, so any status and a dead mount to clear go;
    ``wrap``: a command the daemon runs under, such as ``prlimit``)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    argv = [*wrap, sys.executable, "-m", "boxzipfs", "mount", str(mountpoint), "--foreground", "-v", *args]
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            env={**os.environ, **(env or {})},
        )
    try:
        deadline = time.monotonic() + timeout
        while not os.path.ismount(mountpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                raise MountFailed(f"mount did not come up (exit {process.poll()}):\n{log.read_text()}")
            time.sleep(0.05)
        yield process
    finally:
        clean = unmount(mountpoint, process)
    # Reached only when the test's body passed: check how the daemon ended.
    text = log.read_bytes()[start:].decode(errors="replace")
    problems = []
    if not clean:
        problems.append("the mount did not unmount cleanly (fusermount -u failed or it stayed mounted)")
    if expect_exit is not None and process.returncode != expect_exit:
        problems.append(f"the daemon exited {process.returncode}, not {expect_exit}")
    bad = unexpected_lines(text, allow)
    if bad:
        problems.append("the daemon's log holds unexpected lines:\n  " + "\n  ".join(bad[:20]))
    if problems:
        raise AssertionError("\n".join(problems) + f"\n--- log ---\n{text[-6000:]}")


def is_mounted(mountpoint: Path) -> bool:
    """Mounted, live or dead (os.path.ismount says False for a dead FUSE mount: ENOTCONN)."""
    target = str(mountpoint).replace(" ", "\\040")
    return any(line.split()[1] == target for line in Path("/proc/mounts").read_text().splitlines())


def unmount(mountpoint: Path, process: subprocess.Popen[bytes]) -> bool:
    """Unmount and wait for the daemon; False if that needed force (lazy unmount, kill)."""
    clean = True
    if is_mounted(mountpoint):
        done = subprocess.run(["fusermount", "-u", str(mountpoint)], capture_output=True, check=False)
        if done.returncode != 0:
            clean = False
            subprocess.run(["fusermount", "-u", "-z", str(mountpoint)], capture_output=True, check=False)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        clean = False
        process.kill()
        process.wait()
    return clean and not is_mounted(mountpoint)

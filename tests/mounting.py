"""Mount boxzipfs for real in tests: start the CLI in the foreground, wait for the
mount, dump the log if it never comes, and always unmount (lazily if need be)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class MountFailed(AssertionError):
    pass


@contextmanager
def mounted(
    mountpoint: Path, args: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 20.0
) -> Iterator[subprocess.Popen[bytes]]:
    mountpoint.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "boxzipfs", "mount", str(mountpoint), "--foreground", "-v", *args]
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
        unmount(mountpoint, process)


def is_mounted(mountpoint: Path) -> bool:
    """Mounted, live or dead (os.path.ismount says False for a dead FUSE mount: ENOTCONN)."""
    target = str(mountpoint).replace(" ", "\\040")
    return any(line.split()[1] == target for line in Path("/proc/mounts").read_text().splitlines())


def unmount(mountpoint: Path, process: subprocess.Popen[bytes]) -> None:
    if is_mounted(mountpoint):
        done = subprocess.run(["fusermount", "-u", str(mountpoint)], capture_output=True, check=False)
        if done.returncode != 0:
            subprocess.run(["fusermount", "-u", "-z", str(mountpoint)], capture_output=True, check=False)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

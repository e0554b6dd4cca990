"""The mountpoint itself: checks before mounting, a dead mount's clean-up, unmount."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

from boxzipfs.errors import MountError
from boxzipfs.mount.paths import pid_file


def fusermount() -> str:
    """fusermount3 where libfuse3's tools are installed, else fusermount."""
    return "fusermount3" if shutil.which("fusermount3") else "fusermount"


def mount_type(mountpoint: Path) -> str | None:
    """The filesystem type mounted at ``mountpoint`` per /proc/mounts, if any."""
    target = str(mountpoint).replace(" ", "\\040")
    found = None
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[1] == target:
            found = fields[2]  # the last one listed is the one on top
    return found


def prepare_mountpoint(mountpoint: Path) -> str | None:
    """Check that a mount can go at ``mountpoint``; returns a notice for the user, if any.

    A dead FUSE mount ("Transport endpoint is not connected": its daemon died) is
    detached first. A live mount there is refused: mounting over it would hide it.
    """
    try:
        st = os.stat(mountpoint)
    except OSError as exc:
        if exc.errno != errno.ENOTCONN:
            raise MountError(f"cannot mount at {mountpoint}: {exc.strerror}") from None
        done = subprocess.run(
            [fusermount(), "-u", "-z", str(mountpoint)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise MountError(
                f"{mountpoint} is a dead mount that could not be detached: {done.stderr.strip()}"
            ) from None
        return f"cleaned up a dead mount at {mountpoint} (its daemon had stopped)"
    if not stat.S_ISDIR(st.st_mode):
        raise MountError(f"cannot mount at {mountpoint}: not a directory")
    if os.path.ismount(mountpoint):
        kind = mount_type(mountpoint.resolve()) or "a filesystem"
        raise MountError(f"{mountpoint} is already mounted ({kind}); unmount it first")
    try:
        hidden = sorted(os.listdir(mountpoint))
    except OSError:
        hidden = []
    if hidden:
        shown = ", ".join(hidden[:3]) + (f" and {len(hidden) - 3} more" if len(hidden) > 3 else "")
        return f"warning: {mountpoint} is not empty: the mount hides {shown} until it is unmounted"
    return None


def unmount(mountpoint: Path, lazy: bool = False, wait: float = 60.0) -> int:
    """``fusermount -u [-z]`` (its own message tells why it failed), then wait for the daemon
    to end, so that a mount that follows finds its directories free."""
    daemon = None if lazy else _daemon_of(mountpoint.resolve())  # lazy: files stay open, no wait
    args = [fusermount(), "-u", *(["-z"] if lazy else []), str(mountpoint)]
    code = subprocess.run(args, check=False).returncode
    if code != 0 or daemon is None:
        return code
    deadline = time.monotonic() + wait
    while _alive(daemon):
        if time.monotonic() > deadline:
            print(
                f"boxzipfs: unmounted {mountpoint}, but its daemon (pid {daemon}) is still ending after "
                f"{wait:g}s; a new mount there may find its directories busy",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.05)
    return 0


def _daemon_of(mountpoint: Path) -> int | None:
    """The daemon's process ID from its pid file, if that process is still a boxzipfs."""
    try:
        pid = int(pid_file(mountpoint).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running boxzipfs (a reused pid of another program is not)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return b"boxzipfs" in cmdline and state != "Z"  # a zombie has let go of everything


def cache_notices(cache_dir: Path, cache_size: int) -> list[str]:
    """Warnings about a cache budget its filesystem cannot hold."""
    try:
        usage = shutil.disk_usage(cache_dir)
    except OSError:
        return []
    if cache_size > usage.total:
        return [f"--cache-size {cache_size >> 20} MiB is larger than the filesystem of {cache_dir} "
                f"({usage.total >> 20} MiB): downloads will fail with ENOSPC before the budget"]
    if cache_size > usage.free:
        return [f"--cache-size {cache_size >> 20} MiB is larger than the free space of {cache_dir} "
                f"({usage.free >> 20} MiB now)"]
    return []

"""The mountpoint itself: checks before mounting, a dead mount's clean-up, unmount."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
from pathlib import Path

from boxzipfs.errors import MountError


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
    return None


def unmount(mountpoint: Path, lazy: bool = False) -> int:
    """``fusermount -u [-z]``; its own message tells why it failed."""
    args = [fusermount(), "-u", *(["-z"] if lazy else []), str(mountpoint)]
    return subprocess.run(args, check=False).returncode

"""Kernel read-ahead for this mount's page-cache reads.

A complete archive is opened with keep_cache, so its reads go through the page
cache, and the kernel asks FUSE for at most the backing device's read-ahead at a
time: 128 KiB by default, whatever libfuse3 negotiated for direct reads. Each
FUSE mount has a device of its own (``/sys/class/bdi/MAJOR:MINOR``); raising
its read-ahead to 1 MiB makes those requests 1 MiB. Only root may write it;
for anyone else the default stays.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

READ_AHEAD_KB = 1024


def mount_device(mountpoint: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> str | None:
    """``MAJOR:MINOR`` of the mount at ``mountpoint`` (the last one there), from mountinfo."""
    found = None
    target = str(mountpoint)
    for line in mountinfo.read_text().splitlines():
        fields = line.split()
        # mountinfo escapes blanks, tabs, newlines and backslashes in paths as octal.
        point = fields[4].encode().decode("unicode_escape").encode("latin-1").decode()
        if point == target:
            found = fields[2]
    return found


def raise_read_ahead(mountpoint: Path, bdi_root: Path = Path("/sys/class/bdi")) -> bool:
    """Set the mount's read-ahead to READ_AHEAD_KB if allowed; True when it was set."""
    device = mount_device(mountpoint)
    if device is None:
        return False
    knob = bdi_root / device / "read_ahead_kb"
    try:
        if int(knob.read_text()) < READ_AHEAD_KB:
            knob.write_text(f"{READ_AHEAD_KB}\n")
    except (OSError, ValueError) as exc:
        log.debug("read-ahead of %s left at the default: %s", device, exc)
        return False
    log.debug("read-ahead of %s set to %d KiB", device, READ_AHEAD_KB)
    return True

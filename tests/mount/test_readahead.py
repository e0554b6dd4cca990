"""The mount's own read-ahead: 1 MiB page-cache requests where the kernel lets us set it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxzipfs.mount.readahead import READ_AHEAD_KB, mount_device, raise_read_ahead
from tests.mounting import mounted


def test_mount_device_reads_escaped_paths_and_takes_the_last_mount(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "22 1 0:21 / / rw - ext4 /dev/root rw\n"
        "40 22 0:39 / /mnt/my\\040box rw - fuse.boxzipfs boxzipfs rw\n"
        "41 40 0:40 / /mnt/my\\040box rw - fuse.boxzipfs boxzipfs rw\n"
        "42 22 0:41 / /mnt/ünï rw - fuse.boxzipfs boxzipfs rw\n"
    )
    assert mount_device(Path("/mnt/my box"), info) == "0:40"
    assert mount_device(Path("/mnt/ünï"), info) == "0:41"
    assert mount_device(Path("/mnt/other"), info) is None


def test_a_missing_mount_changes_nothing(tmp_path: Path) -> None:
    """A path that is no mount has no device: no knob of any other device is touched."""
    knobs = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        knob = tmp_path / line.split()[2] / "read_ahead_kb"
        knob.parent.mkdir(exist_ok=True)
        knob.write_text("128\n")
        knobs.append(knob)
    assert raise_read_ahead(tmp_path / "not-mounted", bdi_root=tmp_path) is False
    assert {k.read_text() for k in knobs} == {"128\n"}
    assert raise_read_ahead(Path("/"), bdi_root=tmp_path) is True  # the same knobs do work for a mount
    assert "1024\n" in {k.read_text() for k in knobs}


@pytest.mark.mount
def test_a_root_mount_reads_ahead_1_mib(tree: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    root, _ = tree
    if os.geteuid() != 0:
        pytest.fail("the suite runs as root (it mounts and uses apt-get)")
    mp = tmp_path / "mnt"
    with mounted(mp, ["--local", str(root), "--state-dir", str(tmp_path / "st")], tmp_path / "log"):
        device = f"{os.major(mp.stat().st_dev)}:{os.minor(mp.stat().st_dev)}"
        assert int(Path("/sys/class/bdi", device, "read_ahead_kb").read_text()) == READ_AHEAD_KB

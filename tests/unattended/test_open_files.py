"""#18.1: the daemon's descriptors are bounded by what is being read, not by what was read
lately: a cp -r of thousands of browse files works under systemd's soft limit of 1,024."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.mounting import mounted

pytestmark = pytest.mark.mount

FILES = 5000


def test_cp_r_of_5000_browse_files_under_a_1024_open_files_limit(tmp_path: Path) -> None:
    root = tmp_path / "box"
    folder = root / "many"
    folder.mkdir(parents=True)
    for index in range(FILES):
        (folder / f"f{index:05d}.txt").write_bytes(f"file {index}\n".encode() * (1 + index % 7))
    mp = tmp_path / "mnt"
    args = ["--local", str(root), "--state-dir", str(tmp_path / "st"), "--cache-dir", str(tmp_path / "c")]
    # soft = hard = 1024: the daemon cannot raise its way out, as under a unit with that limit
    with mounted(mp, args, tmp_path / "log", wrap=["prlimit", "--nofile=1024:1024"], timeout=60) as daemon:
        out = tmp_path / "out"
        done = subprocess.run(["cp", "-r", str(mp / "browse" / "many"), str(out)], capture_output=True,
                              text=True, timeout=900, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        copied = sorted(os.listdir(out))
        assert len(copied) == FILES
        assert all((out / name).read_bytes() == (folder / name).read_bytes() for name in copied)
        open_now = len(os.listdir(f"/proc/{daemon.pid}/fd"))
        assert open_now < 200, f"{open_now} descriptors open after the copy"

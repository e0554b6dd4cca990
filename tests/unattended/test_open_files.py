"""#18.1: the daemon's descriptors are bounded by what is being read, not by what was read
lately: a cp -r of thousands of browse files works under systemd's soft limit of 1,024."""

from __future__ import annotations

import errno
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


def test_out_of_descriptors_answers_emfile_in_one_line_and_the_mount_recovers(tmp_path: Path) -> None:
    """#29.24: a daemon at its open-files limit answered EIO with a traceback per open."""
    folder = tmp_path / "box" / "docs"
    folder.mkdir(parents=True)
    for index in range(80):
        (folder / f"f{index}.txt").write_text(f"file {index}\n")
    mp = tmp_path / "mnt"
    args = ["--local", str(tmp_path / "box"), "--state-dir", str(tmp_path / "st")]
    args += ["--cache-dir", str(tmp_path / "c")]
    allow = [r"open /browse/docs/f\d+\.txt: Too many open files -> EMFILE$"]
    with mounted(mp, args, tmp_path / "log", wrap=["prlimit", "--nofile=48:48"], allow=allow, timeout=60):
        held: list[int] = []
        refused: list[int] = []
        try:
            for index in range(80):
                try:
                    held.append(os.open(mp / "browse" / "docs" / f"f{index}.txt", os.O_RDONLY))
                except OSError as exc:
                    refused.append(exc.errno or 0)
        finally:
            for fd in held:
                os.close(fd)
        assert refused and set(refused) == {errno.EMFILE}, refused
        assert len(held) + len(refused) == 80
        # descriptors given back: every file reads whole again
        assert all((mp / "browse" / "docs" / f"f{i}.txt").read_text() == f"file {i}\n" for i in range(80))
    log = (tmp_path / "log").read_text()
    assert "Traceback" not in log and log.count("-> EMFILE") == len(refused)

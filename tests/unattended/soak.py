"""The browse soak (#18.4): rounds of cp -r of new browse files on one mount, with the
daemon's files/s, RSS, threads and descriptors after each round and after idle. The
test suite runs a small one (tests/unattended/test_soak.py); scripts/soak a full one."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.mounting import mounted


@dataclass
class Figures:
    files_per_round: int
    rounds: list[dict[str, float]] = field(default_factory=list)
    start: dict[str, float] = field(default_factory=dict)
    idle: dict[str, float] = field(default_factory=dict)
    exact: bool = True


def sample(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return {
        "rss_mib": round(rss / 1024, 1),
        "threads": len(list(Path(f"/proc/{pid}/task").iterdir())),
        "fds": len(list(Path(f"/proc/{pid}/fd").iterdir())),
    }


def run_soak(rounds: int, files: int, reuse_seconds: float = 2.0, idle_seconds: float = 6.0) -> Figures:
    """``rounds`` copies of ``files`` new browse files each; figures as they went."""
    work = Path(tempfile.mkdtemp(prefix="boxzipfs-soak-"))
    figures = Figures(files)
    try:
        root = work / "box"
        for index in range(rounds):
            folder = root / f"r{index}"
            folder.mkdir(parents=True)
            for number in range(files):
                (folder / f"f{number:05d}.txt").write_bytes(f"round {index} file {number}\n".encode() * 3)
        args = ["--local", str(root), "--state-dir", str(work / "st"), "--cache-dir", str(work / "c"),
                "--reuse-seconds", str(reuse_seconds)]  # fmt: skip
        with mounted(work / "mnt", args, work / "log", timeout=60) as daemon:
            time.sleep(0.5)
            figures.start = sample(daemon.pid)
            for index in range(rounds):
                started = time.monotonic()
                out = work / f"out{index}"
                subprocess.run(["cp", "-r", str(work / "mnt" / "browse" / f"r{index}"), str(out)], check=True)
                took = time.monotonic() - started
                figures.rounds.append({"files_per_second": round(files / took, 1), **sample(daemon.pid)})
                sources = (root / f"r{index}").iterdir()
                figures.exact &= all((out / name.name).read_bytes() == name.read_bytes() for name in sources)
                shutil.rmtree(out)
            time.sleep(idle_seconds)
            figures.idle = sample(daemon.pid)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


if __name__ == "__main__":
    sys.exit("run scripts/soak")

"""Benchmark the mount against fetching the same archive directly with httpx.

In one run: MB/s and time to first byte of ``dd bs=1M`` from request.zip and of
an httpx stream of the same archive straight from the server, their ratio, and
the daemon's peak RSS while a 256 MiB and a 4 GiB archive stream through it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from boxzipfs.mount.local_server import start_local_server

MiB = 1 << 20


def make_tree(root: Path, name: str, size: int, random_data: bool) -> str:
    folder = root / name
    folder.mkdir(parents=True)
    parts = 8
    for i in range(parts):
        with (folder / f"part{i}.bin").open("wb") as out:
            if random_data:
                for _ in range(size // parts // (16 * MiB)):
                    out.write(os.urandom(16 * MiB))
            else:
                out.truncate(size // parts)  # sparse: fast to make, same bytes on the wire
    return str(folder.stat().st_ino)


def peak_rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", text)
    assert match
    return int(match.group(1)) / 1024


class Mount:
    def __init__(self, work: Path, api_url: str, token: str, tag: str) -> None:
        self.path = work / f"mnt-{tag}"
        self.path.mkdir()
        argv = [sys.executable, "-m", "boxzipfs", "mount", str(self.path), "--foreground",
                "--api-url", api_url, "--state-dir", str(work / f"state-{tag}"),
                "--cache-dir", str(work / f"cache-{tag}"), "--reuse-seconds", "0", "-q"]  # fmt: skip
        self.process = subprocess.Popen(argv, env={**os.environ, "BOX_ACCESS_TOKEN": token})
        deadline = time.monotonic() + 30
        while not os.path.ismount(self.path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("mount failed")
            time.sleep(0.05)

    def define(self, name: str, folder_id: str) -> Path:
        (self.path / name).mkdir()
        body = {"items": [{"type": "folder", "id": folder_id}]}
        (self.path / name / "request.json").write_text(json.dumps(body))
        return self.path / name / "request.zip"

    def close(self) -> None:
        subprocess.run(["fusermount", "-u", str(self.path)], check=False)
        self.process.wait(30)


def dd_rate(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=1M", "status=none"], check=True)
    seconds = time.perf_counter() - start
    status = json.loads((path.parent / "status.json").read_text())
    assert status["phase"] == "succeeded", status
    return seconds, int(status["archive_size"])


def mount_ttfb(path: Path) -> float:
    start = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.read(fd, 65536)
        first = time.perf_counter() - start
        while os.read(fd, MiB):
            pass
    finally:
        os.close(fd)
    return first


def direct(http: httpx.Client, url: str, token: str, folder_id: str) -> tuple[float, float, int]:
    start = time.perf_counter()
    answer = http.post(f"{url}/2.0/zip_downloads", json={"items": [{"type": "folder", "id": folder_id}]},
                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    answer.raise_for_status()
    first, size = 0.0, 0
    with http.stream("GET", answer.json()["download_url"]) as response:
        for chunk in response.iter_raw():
            if not size:
                first = time.perf_counter() - start
            size += len(chunk)
    return time.perf_counter() - start, first, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024, help="archive for the throughput runs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-rss", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="boxzipfs-bench-"))
    try:
        root = work / "root"
        main_id = make_tree(root, "main", args.size_mib * MiB, random_data=True)
        small_id = make_tree(root, "rss-256m", 256 * MiB, random_data=False)
        large_id = make_tree(root, "rss-4g", 4096 * MiB, random_data=False)
        with start_local_server(root) as server, httpx.Client(timeout=120) as http:
            direct(http, server.url, server.token, main_id)  # warm the page cache and the CRC cache
            mount = Mount(work, server.url, server.token, "tp")
            rows = []
            try:
                # A warm-up run, not reported: on a VM, memory the guest touches for the first
                # time is slow to fault in, which would charge the first spool, not the design.
                dd_rate(mount.define("warm-up", main_id))
                for run in range(args.runs):
                    path = mount.define(f"run{run}", main_id)
                    mount_s, size = dd_rate(path)
                    ttfb_mount = mount_ttfb(mount.define(f"ttfb{run}", main_id))
                    direct_s, ttfb_direct, direct_size = direct(http, server.url, server.token, main_id)
                    assert size == direct_size, (size, direct_size)
                    rows.append((size / mount_s / 1e6, size / direct_s / 1e6, ttfb_mount, ttfb_direct))
            finally:
                mount.close()
            rss = {}
            if not args.skip_rss:
                for label, folder_id in (("256 MiB", small_id), ("4 GiB", large_id)):
                    fresh = Mount(work, server.url, server.token, label.replace(" ", ""))
                    try:
                        dd_rate(fresh.define("r", folder_id))
                        rss[label] = peak_rss_mib(fresh.process.pid)
                    finally:
                        fresh.close()
        print(f"archive: {size / MiB:.0f} MiB of stored random data, {args.runs} runs")
        header = ("run", "mount dd MB/s", "httpx MB/s", "ratio", "TTFB mount", "TTFB httpx")
        print("{:>3} {:>14} {:>11} {:>6} {:>11} {:>11}".format(*header))
        for i, (m, d, tm, td) in enumerate(rows):
            print(f"{i:>3} {m:14.0f} {d:11.0f} {m / d:6.2f} {tm * 1000:9.0f}ms {td * 1000:9.0f}ms")
        for label, value in rss.items():
            print(f"daemon peak RSS streaming a {label} archive: {value:.1f} MiB")
        if len(rss) == 2:
            print(f"difference: {abs(rss['4 GiB'] - rss['256 MiB']):.1f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

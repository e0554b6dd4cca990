"""Benchmark: is serving an archive ever the bottleneck?

Streams a 1 GiB archive of stored entries from ``boxzipfs serve`` and the very
same bytes sent raw by the same server (same streaming path, no zip building),
with curl and with httpx, in one run, and prints MB/s side by side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from boxzipfs.server.child import start_local_server

MiB = 1 << 20


def curl(url: str, token: str | None = None) -> tuple[int, float]:
    cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    size, seconds = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
    return int(size), float(seconds)


def with_httpx(http: httpx.Client, url: str, token: str | None = None) -> tuple[int, float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    start, size = time.perf_counter(), 0
    with http.stream("GET", url, headers=headers) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            size += len(chunk)
    return size, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="boxzipfs-bench-"))
    try:
        data = work / "root" / "data"
        data.mkdir(parents=True)
        per_file = args.size_mib * MiB // args.files
        for i in range(args.files):
            with (data / f"part{i:02d}.bin").open("wb") as out:
                for _ in range(per_file // (16 * MiB)):
                    out.write(os.urandom(16 * MiB))
        with start_local_server(work / "root") as server, httpx.Client(timeout=120) as http:
            auth = {"Authorization": f"Bearer {server.token}"}
            body = {"items": [{"type": "folder", "id": str(data.stat().st_ino)}]}

            def create() -> str:
                answer = http.post(f"{server.url}/2.0/zip_downloads", json=body, headers=auth)
                answer.raise_for_status()
                return str(answer.json()["download_url"])

            archive = work / "root" / "archive.zip"
            subprocess.run(["curl", "-sS", "-o", str(archive), create()], check=True)
            raw_url = f"{server.url}/_boxzipfs/raw/{archive.stat().st_ino}"
            rows = []
            for client, fetch in (("curl", curl), ("httpx", lambda u, t=None: with_httpx(http, u, t))):
                zip_size, zip_s = fetch(create())
                raw_size, raw_s = fetch(raw_url, server.token)
                assert zip_size == raw_size == archive.stat().st_size, (zip_size, raw_size)
                rows.append((client, zip_size / zip_s / 1e6, raw_size / raw_s / 1e6))
        print(f"archive of {args.files} stored files, {archive.stat().st_size / MiB:.0f} MiB")
        print(f"{'client':8} {'archive MB/s':>13} {'raw MB/s':>10} {'ratio':>7}")
        for client, zip_rate, raw_rate in rows:
            print(f"{client:8} {zip_rate:13.0f} {raw_rate:10.0f} {zip_rate / raw_rate:7.2f}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

"""Benchmark a request joined from parts against one archive of the same files, side by side.

Two local servers over the same tree: one refuses archives of more than
``--part-files`` files (so the mount lists the request, downloads it in parts
and joins them), the other has no such limit. Each round, ``dd bs=1M`` of a new
request.zip on a mount of each; MB/s of the archive read and the daemon's CPU
seconds per GiB, with ratios min/median/max over rounds (these VMs are noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchlib import cpu_seconds, mounted_daemon, spread

from boxzipfs.server.child import LocalServer, start_local_server

MiB = 1 << 20


def make_tree(root: Path, files: int, size_mib: int) -> str:
    folder = root / "many"
    each = size_mib * MiB // files
    for index in range(files):
        sub = folder / f"d{index % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{index:05d}.bin").write_bytes(os.urandom(each))
    return str(folder.stat().st_ino)


def read_once(work: Path, server: LocalServer, folder_id: str, tag: str) -> tuple[float, float, int, int]:
    """(MB/s, daemon CPU-s per GiB, archive bytes, parts) of one new request.zip on a fresh mount."""
    with mounted_daemon(work, tag, server.url, server.token) as (mnt, pid):
        request = mnt / "all"
        request.mkdir()
        (request / "request.json").write_text(json.dumps({"items": [{"type": "folder", "id": folder_id}]}))
        cpu0 = cpu_seconds(pid)
        start = time.perf_counter()
        subprocess.run(
            ["dd", f"if={request / 'request.zip'}", "of=/dev/null", "bs=1M", "status=none"], check=True
        )
        seconds = time.perf_counter() - start
        cpu = cpu_seconds(pid) - cpu0
        doc = json.loads((request / "status.json").read_text())
        assert doc["phase"] == "succeeded", doc
        size = int(doc["archive_size"])
        parts = int(doc["split"]["parts_done"]) if doc["split"] else 1
        return size / seconds / 1e6, cpu * (1 << 30) / size, size, parts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size-mib", type=int, default=1024, help="total bytes of the files")
    parser.add_argument("--part-files", type=int, default=500, help="the limited server's files per archive")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="boxzipfs-bench-split-"))
    try:
        root = work / "root"
        folder_id = make_tree(root, args.files, args.size_mib)
        rows = []
        with (
            start_local_server(root, ["--max-files", str(args.part_files)]) as limited,
            start_local_server(root) as unlimited,
        ):
            read_once(work, unlimited, folder_id, "warm")  # the server's CRC cache and the page cache
            for index in range(args.runs):
                joined = read_once(work, limited, folder_id, f"j{index}")
                single = read_once(work, unlimited, folder_id, f"s{index}")
                rows.append((joined, single))
        print(
            f"{args.files} files, {args.size_mib} MiB; parts of <= {args.part_files} files; {args.runs} runs"
        )
        print(f"{'round':>5} {'joined MB/s':>12} {'single MB/s':>12} {'joined CPU/GiB':>15} "
              f"{'single CPU/GiB':>15} {'parts':>6}")  # fmt: skip
        for index, (joined, single) in enumerate(rows):
            print(f"{index:5d} {joined[0]:12.0f} {single[0]:12.0f} {joined[1]:15.2f} {single[1]:15.2f} "
                  f"{joined[3]:6d}")  # fmt: skip
        print(f"{'ratio':<36} {'min':>7} {'median':>7} {'max':>7}")
        print(f"{'MB/s, joined / single archive':<36} {spread([j[0] / s[0] for j, s in rows])}")
        print(f"{'daemon CPU per GiB, joined / single':<36} {spread([j[1] / s[1] for j, s in rows])}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

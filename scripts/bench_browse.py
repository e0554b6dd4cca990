"""Benchmark browse/ against the archives of the same bytes, side by side in one run.

Each round mounts afresh (nothing cached) and measures:
- ``cp -r browse/small`` of many small files (files/s), next to ``cp
  archives/small.zip`` plus extracting it (files/s);
- ``dd bs=1M`` of one large Box file in browse/, next to ``dd`` of its folder's
  archive (MB/s; the target is at least 0.8: unpacking must not halve the speed);
- the zip creates the ``cp -r`` cost (folder prefetch: a few, not one per file), and
  the same copy after a remount over the same cache (the target: no create at all).
Ratios with min/median/max over rounds, since these VMs are noisy. Then, on a fresh
mount, the daemon's RSS through a ``cp -r`` of ``--rss-files`` files (10,000 by default):
sampled as the copy goes, it must stay flat, and every file is compared with its source.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import httpx
from benchlib import mounted_daemon, spread

from boxzipfs.server.child import start_local_server

MiB = 1 << 20


def make_tree(root: Path, files: int, size_mib: int) -> None:
    small = root / "small"
    small.mkdir(parents=True)
    for index in range(files):
        (small / f"f{index:05d}.bin").write_bytes(os.urandom(4096))
    big = root / "big"
    big.mkdir()
    with (big / "big.bin").open("wb") as out:
        left = size_mib * MiB
        while left:
            piece = min(left, 16 * MiB)
            out.write(os.urandom(piece))
            left -= piece


def make_many(root: Path, files: int) -> None:
    many = root / "many"
    many.mkdir(parents=True)
    for index in range(files):
        (many / f"m{index:05d}.bin").write_bytes(os.urandom(4096))


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    match = re.search(rf"{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert match
    return int(match.group(1)) / 1024


def rss_through_copy(work: Path, url: str, token: str, root: Path, files: int) -> None:
    """Print the daemon's RSS as a ``cp -r`` of ``files`` files goes, and check every byte."""
    samples: list[tuple[int, float]] = []  # (files copied, RSS MiB)
    out = work / "out-many"
    with mounted_daemon(work, "rss", url, token, "--cache-size", "8G") as (mnt, pid):
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                copied = len(os.listdir(out)) if out.exists() else 0
                samples.append((copied, rss_mib(pid)))

        before = rss_mib(pid)
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            seconds = timed("cp", "-r", mnt / "browse" / "many", out)
        finally:
            done.set()
            sampler.join()
        after, peak = rss_mib(pid), rss_mib(pid, "VmHWM")
    names = sorted(os.listdir(root / "many"))
    _, mismatch, errors = filecmp.cmpfiles(root / "many", out, names, shallow=False)
    assert not mismatch and not errors and len(names) == files, (mismatch[:3], errors[:3])
    early = [rss for copied, rss in samples if copied <= files // 10] or [before]
    print(f"RSS through a cp -r of {files} files of 4 KiB ({files / seconds:.0f} files/s, every file "
          f"byte-exact): before {before:.1f} MiB, by the first {files // 10} files {max(early):.1f}, "
          f"at the end {after:.1f}, peak {peak:.1f}; growth after the first tenth "
          f"{peak - max(early):.1f} MiB")  # fmt: skip
    for copied, rss in samples[:: max(1, len(samples) // 8)]:
        print(f"  {copied:6d} files copied: RSS {rss:.1f} MiB")


def timed(*argv: str | Path) -> float:
    start = time.perf_counter()
    subprocess.run([str(a) for a in argv], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def creates(url: str, token: str) -> int:
    answer = httpx.get(f"{url}/_boxzipfs/stats", headers={"Authorization": f"Bearer {token}"})
    return int(answer.json()["creates"])


def round_once(work: Path, url: str, token: str, files: int, size: int, tag: str) -> dict[str, float]:
    with mounted_daemon(work, tag, url, token, "--cache-size", "8G") as (mnt, _):
        out = work / f"out-{tag}"
        out.mkdir()
        before = creates(url, token)
        browse_s = timed("cp", "-r", mnt / "browse" / "small", out / "browsed")
        browse_creates = creates(url, token) - before
        assert len(os.listdir(out / "browsed")) == files
        start = time.perf_counter()
        shutil.copyfile(mnt / "archives" / "small.zip", out / "small.zip")
        with zipfile.ZipFile(out / "small.zip") as archive:
            archive.extractall(out / "extracted")
        archive_s = time.perf_counter() - start
        assert len(os.listdir(out / "extracted" / "small")) == files
        file_s = timed(
            "dd", f"if={mnt / 'browse' / 'big' / 'big.bin'}", "of=/dev/null", "bs=1M", "status=none"
        )
        zip_s = timed("dd", f"if={mnt / 'archives' / 'big.zip'}", "of=/dev/null", "bs=1M", "status=none")
    with mounted_daemon(work, f"{tag}-again", url, token, "--cache-size", "8G", cache=tag) as (mnt, _):
        before = creates(url, token)
        again_s = timed("cp", "-r", mnt / "browse" / "small", out / "again")
        again_creates = creates(url, token) - before
        assert len(os.listdir(out / "again")) == files
    return {
        "browse_fps": files / browse_s, "archive_fps": files / archive_s,
        "file_mbs": size / file_s / 1e6, "zip_mbs": size / zip_s / 1e6,
        "creates": browse_creates, "again_fps": files / again_s, "again_creates": again_creates,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=1000, help="small files to copy one by one")
    parser.add_argument("--size-mib", type=int, default=1024, help="the large Box file")
    parser.add_argument("--runs", type=int, default=3, help="rounds")
    parser.add_argument("--rss-files", type=int, default=10000, help="files of the RSS copy (0: skip it)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="boxzipfs-bench-browse-"))
    try:
        root = work / "root"
        make_tree(root, args.files, args.size_mib)
        if args.rss_files:
            make_many(root, args.rss_files)
        size = args.size_mib * MiB
        rows = []
        with start_local_server(root) as server:
            for index in range(args.runs):
                rows.append(round_once(work, server.url, server.token, args.files, size, str(index)))
        print(
            f"{args.files} files of 4 KiB; one file of {args.size_mib} MiB; {args.runs} rounds, fresh mounts"
        )
        print(f"{'round':>5} {'cp -r browse files/s':>21} {'creates':>8} {'zip+extract files/s':>20} "
              f"{'browse file MB/s':>17} {'archive MB/s':>13} {'remount files/s':>16} "
              f"{'creates':>8}")  # fmt: skip
        for index, row in enumerate(rows):
            print(f"{index:5d} {row['browse_fps']:21.0f} {row['creates']:8.0f} {row['archive_fps']:20.0f} "
                  f"{row['file_mbs']:17.0f} {row['zip_mbs']:13.0f} {row['again_fps']:16.0f} "
                  f"{row['again_creates']:8.0f}")  # fmt: skip
        print(f"{'ratio (target)':<46} {'min':>7} {'median':>7} {'max':>7}")
        files_ratio = [r["browse_fps"] / r["archive_fps"] for r in rows]
        bytes_ratio = [r["file_mbs"] / r["zip_mbs"] for r in rows]
        print(f"{'files/s, cp -r browse / zip + extract':<46} {spread(files_ratio)}")
        print(f"{'MB/s, browse file / folder archive (>= 0.8)':<46} {spread(bytes_ratio)}")
        again_ratio = [r["again_fps"] / r["archive_fps"] for r in rows]
        print(f"{'files/s, remounted cp -r / zip + extract':<46} {spread(again_ratio)}")
        print(f"creates per cp -r of {args.files} files: {[int(r['creates']) for r in rows]}; "
              f"after a remount: {[int(r['again_creates']) for r in rows]}")
        if args.rss_files:
            with start_local_server(root) as server:
                rss_through_copy(work, server.url, server.token, root, args.rss_files)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark the mount against fetching the same archive directly with httpx.

Side by side in one run, each round measuring both (ratios; min/median/max over
rounds, since these VMs are noisy):
- ``dd bs=1M`` of a new request.zip vs a direct httpx stream of the same archive (MB/s);
- the daemon's CPU seconds per GiB vs the direct httpx client's own;
- re-reading the completed archive within the reuse window vs its first read;
- five requests read at once vs five direct downloads at once (total MB/s);
- the same first read on a mount whose spools are reused (``--reuse-seconds 0``: each archive's
  spool file is written over by the next one, warm pages instead of fresh ones): MB/s and CPU;
- time to first byte: open + first read (64 KiB) vs a direct create + first chunk, and vs a direct
  create + its first 64 KiB (the same bytes the mount's first read returns);
then a stream the server sends at 150 MB/s (``--throttle``: a slow stream must reach the same
pace through the mount), and the daemon's peak RSS for a 256 MiB and a 4 GiB archive.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from boxzipfs.server.child import start_local_server

UNPACED = 10**9  # the local server has no rate limit: benchmarks measure the daemon, not Box's budget
MiB = 1 << 20
GiB = 1 << 30
TICKS = os.sysconf("SC_CLK_TCK")


def make_tree(root: Path, name: str, size: int, random_data: bool) -> str:
    folder = root / name
    folder.mkdir(parents=True)
    parts = 8
    for i in range(parts):
        with (folder / f"part{i}.bin").open("wb") as out:
            if random_data:
                left = size // parts
                while left > 0:
                    piece = min(left, 16 * MiB)
                    out.write(os.urandom(piece))
                    left -= piece
            else:
                out.truncate(size // parts)  # sparse: fast to make, same bytes on the wire
    return str(folder.stat().st_ino)


def peak_rss_mib(pid: int) -> float:
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert match
    return int(match.group(1)) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its reaped children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Mount:
    def __init__(
        self, work: Path, api_url: str, token: str, tag: str, extra: list[str] | None = None
    ) -> None:
        self.path = work / f"mnt-{tag}"
        self.path.mkdir()
        argv = [sys.executable, "-m", "boxzipfs", "mount", str(self.path), "--foreground",
                "--api-url", api_url, "--api-calls-per-minute", str(UNPACED),
                "--state-dir", str(work / f"state-{tag}"),
                "--cache-dir", str(work / f"cache-{tag}"), "--reuse-seconds", "600",
                "--cache-size", "8G", "-q", *(extra or [])]  # fmt: skip
        self.process = subprocess.Popen(argv, env={**os.environ, "BOX_ACCESS_TOKEN": token})
        self.count = 0
        deadline = time.monotonic() + 30
        while not os.path.ismount(self.path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("mount failed")
            time.sleep(0.05)

    def new_request(self, folder_id: str) -> Path:
        """A new request directory: its first read is a new download."""
        self.count += 1
        directory = self.path / f"r{self.count}"
        directory.mkdir()
        (directory / "request.json").write_text(json.dumps({"items": [{"type": "folder", "id": folder_id}]}))
        return directory / "request.zip"

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def close(self) -> None:
        subprocess.run(["fusermount", "-u", str(self.path)], check=False)
        self.process.wait(30)


def dd(path: Path) -> tuple[float, int]:
    """Seconds and bytes of ``dd bs=1M`` to /dev/null; the download must have succeeded."""
    start = time.perf_counter()
    subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=1M", "status=none"], check=True)
    seconds = time.perf_counter() - start
    status = json.loads((path.parent / "status.json").read_text())
    assert status["phase"] == "succeeded", status
    return seconds, int(status["archive_size"])


FIRST_READ = 65536


def mount_ttfb(path: Path) -> float:
    start = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.read(fd, FIRST_READ)
        first = time.perf_counter() - start
        while os.read(fd, MiB):
            pass
    finally:
        os.close(fd)
    return first


def direct(
    url: str, token: str, folder_id: str, verify: ssl.SSLContext | bool = True
) -> tuple[float, float, int, float]:
    """(seconds, time to first byte, bytes, time to the first 64 KiB) of a create plus one
    streamed GET, with httpx (``verify``: the CA of an HTTPS run, where both sides pay TLS)."""
    with httpx.Client(timeout=120, verify=verify) as http:
        start = time.perf_counter()
        answer = http.post(f"{url}/2.0/zip_downloads", json={"items": [{"type": "folder", "id": folder_id}]},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        answer.raise_for_status()
        first, first_read, size = 0.0, 0.0, 0
        with http.stream("GET", answer.json()["download_url"]) as response:
            for chunk in response.iter_raw():
                if not size:
                    first = time.perf_counter() - start
                size += len(chunk)
                if not first_read and size >= FIRST_READ:
                    first_read = time.perf_counter() - start
        return time.perf_counter() - start, first, size, first_read


def at_once(jobs: list[Callable[[], int]]) -> float:
    """Total MB/s of ``jobs`` run at once (each returns its byte count)."""
    sizes: list[int] = []
    threads = [threading.Thread(target=lambda job=job: sizes.append(job())) for job in jobs]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sizes) == len(jobs)
    return sum(sizes) / (time.perf_counter() - start) / 1e6


def spread(values: list[float]) -> str:
    return f"{min(values):7.2f} {statistics.median(values):7.2f} {max(values):7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="archive for the throughput runs")
    parser.add_argument("--runs", type=int, default=5, help="rounds")
    parser.add_argument("--concurrent", type=int, default=5, help="requests read at once")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument(
        "--https", action="store_true", help="serve HTTPS (a throw-away CA): both sides pay TLS, as with Box"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="boxzipfs-bench-"))
    rows: dict[str, list[float]] = {
        k: []
        for k in ("mount", "httpx", "mount_cpu", "httpx_cpu", "reread", "many", "many_direct", "tm", "td",
                  "td64", "reused", "reused_cpu")
    }
    try:
        root = work / "root"
        main_id = make_tree(root, "main", args.size_mib * MiB, random_data=True)
        small_id = make_tree(root, "rss-256m", 256 * MiB, random_data=False) if not args.skip_rss else ""
        large_id = make_tree(root, "rss-4g", 4096 * MiB, random_data=False) if not args.skip_rss else ""
        tls = ["--tls-self-signed", str(work / "tls")] if args.https else []
        with start_local_server(root, tls) as server:
            extra = ["--ca-file", str(work / "tls" / "ca.pem")] if args.https else []
            verify: ssl.SSLContext | bool = True
            if args.https:
                verify = ssl.create_default_context(cafile=str(work / "tls" / "ca.pem"))
            direct(server.url, server.token, main_id, verify)  # warm the page cache and the CRC cache
            mount = Mount(work, server.url, server.token, "tp", extra)
            recycling = Mount(work, server.url, server.token, "reuse", [*extra, "-q", "--reuse-seconds", "0"])
            try:
                # Warm-up, not reported: memory a VM touches for the first time is slow to fault in.
                dd(mount.new_request(main_id))
                dd(recycling.new_request(main_id))  # its spool is kept for the next to write over
                for _ in range(args.runs):
                    path = mount.new_request(main_id)
                    cpu0 = mount.cpu()
                    mount_s, size = dd(path)
                    mount_cpu = mount.cpu() - cpu0
                    reread_s, reread_size = dd(path)  # within the reuse window: the same archive
                    assert reread_size == size
                    cpu0 = time.process_time()
                    direct_s, ttfb_direct, direct_size, ttfb_direct64 = direct(
                        server.url, server.token, main_id, verify
                    )
                    direct_cpu = time.process_time() - cpu0
                    assert size == direct_size, (size, direct_size)
                    ttfb_mount = mount_ttfb(mount.new_request(main_id))
                    cpu0 = recycling.cpu()
                    reused_s, reused_size = dd(recycling.new_request(main_id))
                    reused_cpu = recycling.cpu() - cpu0
                    paths = [mount.new_request(main_id) for _ in range(args.concurrent)]
                    many = at_once([lambda p=p: dd(p)[1] for p in paths])
                    many_direct = at_once(
                        [lambda: direct(server.url, server.token, main_id, verify)[2]] * args.concurrent
                    )
                    for key, value in (
                        ("mount", size / mount_s / 1e6), ("httpx", size / direct_s / 1e6),
                        ("mount_cpu", mount_cpu * GiB / size), ("httpx_cpu", direct_cpu * GiB / size),
                        ("reread", size / reread_s / 1e6), ("many", many), ("many_direct", many_direct),
                        ("tm", ttfb_mount), ("td", ttfb_direct), ("td64", ttfb_direct64),
                        ("reused", reused_size / reused_s / 1e6),
                        ("reused_cpu", reused_cpu * GiB / reused_size),
                    ):  # fmt: skip
                        rows[key].append(value)
            finally:
                mount.close()
                recycling.close()
        with start_local_server(root, tls) as server:
            rss = {}
            if not args.skip_rss:
                for label, folder_id in (("256 MiB", small_id), ("4 GiB", large_id)):
                    fresh = Mount(work, server.url, server.token, label.replace(" ", ""), extra)
                    try:
                        dd(fresh.new_request(folder_id))
                        rss[label] = peak_rss_mib(fresh.process.pid)
                    finally:
                        fresh.close()
        report(rows, size, args, rss)
        mount_mbs, direct_mbs = throttled_pair(root, main_id, work, tls)
        print(f"a stream sent at 150 MB/s: mount {mount_mbs:.0f} MB/s, httpx {direct_mbs:.0f} MB/s "
              f"(ratio {mount_mbs / direct_mbs:.2f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


THROTTLE = 150_000_000  # bytes a second


def throttled_pair(root: Path, folder_id: str, work: Path, tls: list[str]) -> tuple[float, float]:
    """MB/s of the mount and of httpx reading the archive from a server that sends at 150 MB/s."""
    with start_local_server(root, [*tls, "--throttle", str(THROTTLE)]) as server:
        extra = ["--ca-file", str(work / "tls" / "ca.pem")] if tls else []
        verify: ssl.SSLContext | bool = True
        if tls:
            verify = ssl.create_default_context(cafile=str(work / "tls" / "ca.pem"))
        mount = Mount(work, server.url, server.token, "slow", extra)
        try:
            seconds, size = dd(mount.new_request(folder_id))
        finally:
            mount.close()
        direct_s, _, direct_size, _ = direct(server.url, server.token, folder_id, verify)
        return size / seconds / 1e6, direct_size / direct_s / 1e6


def report(rows: dict[str, list[float]], size: int, args: argparse.Namespace, rss: dict[str, float]) -> None:
    n = len(rows["mount"])
    wire = "HTTPS" if args.https else "HTTP"
    print(f"archive: {size / MiB:.0f} MiB of stored random data over {wire}; {n} rounds, "
          "each measuring both sides")
    print(f"{'round':>5} {'mount MB/s':>10} {'httpx MB/s':>10} {'CPU s/GiB mount':>15} {'httpx':>6} "
          f"{'reused MB/s':>11} {'CPU':>5} {'reread MB/s':>11} {f'{args.concurrent}x mount':>10} "
          f"{f'{args.concurrent}x httpx':>10} {'TTFB mount':>10} {'httpx':>6} {'64 KiB':>6}")  # fmt: skip
    for i in range(n):
        print(f"{i:>5} {rows['mount'][i]:10.0f} {rows['httpx'][i]:10.0f} {rows['mount_cpu'][i]:15.2f} "
              f"{rows['httpx_cpu'][i]:6.2f} {rows['reused'][i]:11.0f} {rows['reused_cpu'][i]:5.2f} "
              f"{rows['reread'][i]:11.0f} {rows['many'][i]:10.0f} {rows['many_direct'][i]:10.0f} "
              f"{rows['tm'][i] * 1000:8.1f}ms {rows['td'][i] * 1000:4.1f}ms "
              f"{rows['td64'][i] * 1000:4.1f}ms")  # fmt: skip

    def ratio(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(rows[a], rows[b], strict=True)]

    print(f"{'ratio (target)':<52} {'min':>7} {'median':>7} {'max':>7}")
    for label, values in (
        ("dd MB/s, mount / httpx (>= 0.9)", ratio("mount", "httpx")),
        ("dd MB/s, spool reused / httpx (>= 0.9)", ratio("reused", "httpx")),
        ("CPU per GiB, daemon / httpx client (<= 1.2)", ratio("mount_cpu", "httpx_cpu")),
        ("CPU per GiB, spool reused / httpx client (<= 1.2)", ratio("reused_cpu", "httpx_cpu")),
        ("re-read / first read MB/s (>= 5)", ratio("reread", "mount")),
        (f"{args.concurrent} at once, mount / httpx MB/s (>= 0.9)", ratio("many", "many_direct")),
        ("TTFB, mount / httpx first chunk (<= 1.2)", ratio("tm", "td")),
        ("TTFB, mount / httpx first 64 KiB", ratio("tm", "td64")),
    ):
        print(f"{label:<52} {spread(values)}")
    for label, value in rss.items():
        print(f"daemon peak RSS streaming a {label} archive: {value:.1f} MiB")
    if len(rss) == 2:
        print(f"difference: {abs(rss['4 GiB'] - rss['256 MiB']):.1f} MiB (target: within 16 MiB)")


if __name__ == "__main__":
    main()

"""The chaos and soak scenarios, each returning its figures and the promises it saw broken.

pytest runs them small (``tests/chaos/test_chaos.py``); ``scripts/chaos`` runs them at
full size and prints the figures. Every mount runs with PYTHONDEVMODE=1 and
faulthandler on, so a hang or a misuse shows in its log.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from boxzipfs.server.child import LocalServer, start_local_server
from tests.chaos.proxy import FaultProxy, Plan
from tests.helpers import bearer, expected_members, file_id
from tests.mounting import mounted

DEV_ENV = {"PYTHONDEVMODE": "1", "PYTHONFAULTHANDLER": "1"}

# What injected faults make a daemon log at WARNING: any other warning fails the scenario.
FAULTS_LOGGED = (
    r"download \S+ failed: ",
    r"request\.json refused: ",
    r"--cache-size \d+ MiB is larger than",  # the disk-full scenario's small filesystem
)

# Every directory a scenario mounts in is made under this prefix: is_clean judges only those.
WORK_PREFIX = f"boxzipfs-chaos-{os.getpid()}-"


@dataclass
class Result:
    name: str
    figures: dict[str, object] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)

    def expect(self, ok: bool, promise: str) -> None:
        if not ok:
            self.broken.append(promise)


@dataclass
class World:
    """A Box tree, the local server, and a scratch directory."""

    root: Path
    work: Path
    server: LocalServer
    folders: list[str]

    def folder_id(self, index: int) -> str:
        return file_id(self.root, self.folders[index % len(self.folders)])

    def expected(self, index: int) -> dict[str, bytes]:
        return expected_members(self.root, self.folders[index % len(self.folders)])

    def faults(self, **switches: object) -> None:
        httpx.put(f"{self.server.url}/_boxzipfs/faults", json=switches, headers=bearer(self.server.token))


@contextlib.contextmanager
def world(*server_args: str, sizes: tuple[int, ...] = (300_000, 1_200_000, 2_500_000)) -> Iterator[World]:
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX))
    root = work / "box"
    rng = random.Random(7)
    folders = []
    for index, size in enumerate(sizes):
        folder = root / f"f{index}"
        for part in range(3):
            (folder / f"sub{part % 2}").mkdir(parents=True, exist_ok=True)
            (folder / f"sub{part % 2}" / f"p{part}.bin").write_bytes(rng.randbytes(size // 3))
        folders.append(f"f{index}")
    try:
        with start_local_server(root, list(server_args)) as server:
            yield World(root, work, server, folders)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def mount(
    w: World, api_url: str, tag: str, *args: str, killed: bool = False
) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A mount for a scenario (``killed``: the scenario kills the daemon itself)."""
    mnt = w.work / f"mnt-{tag}"
    base = [
        "--api-url",
        api_url,
        "--state-dir",
        str(w.work / f"st-{tag}"),
        "--cache-dir",
        str(w.work / f"c-{tag}"),
    ]
    env = {"BOX_ACCESS_TOKEN": w.server.token, **DEV_ENV}
    exit_status = None if killed else 0
    with mounted(
        mnt, [*base, *args], w.work / f"log-{tag}", env, allow=FAULTS_LOGGED, expect_exit=exit_status
    ) as process:
        yield mnt, process


def define(mnt: Path, name: str, body: dict[str, object]) -> Path:
    (mnt / name).mkdir(exist_ok=True)
    (mnt / name / "request.json").write_text(json.dumps(body))
    return mnt / name


def members(data: bytes) -> dict[str, bytes] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if archive.testzip() is not None:
                return None
            return {i.filename: archive.read(i) for i in archive.infolist()}
    except (zipfile.BadZipFile, OSError, EOFError):
        return None


def read(path: Path) -> bytes | OSError:
    try:
        return path.read_bytes()
    except OSError as exc:
        return exc


# -- R1 cuts --------------------------------------------------------------------------------


def r1_cuts(count: int, seed: int = 1) -> Result:
    """Archives cut on every attempt: every reader fails, never a clean end; cut once: byte-exact."""
    result = Result("R1 cuts")
    # Cuts below the smallest archive's size (about 300 KB), so every stream is really cut.
    plan = Plan(seed=seed, cut_every_stream=True, max_offset=250_000)
    with world() as w, FaultProxy(w.server.url, plan) as proxy:
        failed = clean = short_complete = 0
        with mount(w, proxy.url, "r1", "--resume-attempts", "1") as (mnt, _):
            for index in range(count):
                request = define(mnt, f"a{index}", {"items": [{"type": "folder", "id": w.folder_id(index)}]})
                data = read(request / "request.zip")
                if isinstance(data, OSError):
                    failed += data.errno == errno.EIO
                else:
                    clean += 1
                doc = json.loads((request / "status.json").read_text())
                short_complete += doc["phase"] == "succeeded"
        result.figures.update(cut_every_attempt=count, failed_eio=failed, clean_ends=clean,
                              short_reported_complete=short_complete)  # fmt: skip
        result.expect(
            failed == count and clean == 0 and short_complete == 0, "every cut archive fails loudly"
        )
    with world() as w:
        exact = 0
        with mount(w, w.server.url, "r1b") as (mnt, _):
            rng = random.Random(seed)
            for index in range(count):
                w.faults(cut_after=rng.randint(1, 250_000), cut_times=1)
                request = define(mnt, f"b{index}", {"items": [{"type": "folder", "id": w.folder_id(index)}]})
                data = read(request / "request.zip")
                exact += isinstance(data, bytes) and members(data) == w.expected(index)
        result.figures.update(cut_once=count, resumed_byte_exact=exact)
        result.expect(exact == count, "an archive cut once resumes byte-exact")
    return result


# -- R2 bad input -----------------------------------------------------------------------------


def _bad_inputs(rng: random.Random, good: bytes) -> bytes:
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randbytes(rng.randint(1, 300))
    if kind == 1:
        return good[: rng.randint(1, len(good) - 1)]
    if kind == 2:
        return json.dumps({"items": rng.choice([5, "x", None, [1], [{"type": "file"}], {}])}).encode()
    if kind == 3:
        return json.dumps({"items": [{"type": "file", "id": "9" * rng.randint(1, 5000)}]}).encode()
    if kind == 4:
        return json.dumps({"items": [{"type": "fïlé", "id": "1"}], "download_file_name": "ü/ñ"}).encode()
    if kind == 5:
        return b"\xff\xfe" + good
    return json.dumps({"items": [], "allow_skips": "yes"}).encode()


def r2_bad_input(count: int, seed: int = 2) -> Result:
    """Generated bad writes to request.json: no crash, each refusal an errno, the old definition intact."""
    result = Result("R2 bad input")
    rng = random.Random(seed)
    with world() as w, mount(w, w.server.url, "r2") as (mnt, process):
        good = json.dumps({"items": [{"type": "folder", "id": w.folder_id(0)}]}).encode()
        request = define(mnt, "target", json.loads(good))
        refused = accepted = intact = 0
        for _ in range(count):
            data = _bad_inputs(rng, good)
            try:
                fd = os.open(request / "request.json", os.O_WRONLY | os.O_TRUNC)
                try:
                    offset = 0
                    while offset < len(data):  # partial writes at odd offsets
                        piece = data[offset : offset + rng.randint(1, 97)]
                        os.pwrite(fd, piece, offset)
                        offset += len(piece)
                finally:
                    os.close(fd)
                accepted += 1
                good = (request / "request.json").read_bytes()  # a valid one by chance is the new definition
            except OSError as exc:
                refused += exc.errno in (errno.EINVAL, errno.EFBIG)
            if (request / "request.json").read_bytes() == good:
                intact += 1
        alive = process.poll() is None
        result.figures.update(writes=count, refused_with_errno=refused, accepted=accepted,
                              definition_intact=intact, daemon_alive=alive)  # fmt: skip
        result.expect(alive, "the daemon survives bad input")
        result.expect(refused + accepted == count, "every refusal is an errno")
        result.expect(intact == count, "the previous definition stays intact")
    return result


# -- R3 the API: one GET per download URL, through random faults ------------------------------


def r3_urls_once(count: int, seed: int = 3) -> Result:
    result = Result("R3 API")
    # Status answers "in_progress" for 1.5 s after each stream ended, as Box's can.
    plan = Plan(seed=seed, rate=0.3, stall_seconds=2.0, status_lag=1.5)
    with world() as w, FaultProxy(w.server.url, plan) as proxy:
        completed = 0
        with mount(w, proxy.url, "r3", "--stall-timeout", "1") as (mnt, _):
            for index in range(count):
                request = define(mnt, f"u{index}", {"items": [{"type": "folder", "id": w.folder_id(index)}]})
                data = read(request / "request.zip")
                completed += isinstance(data, bytes) and members(data) == w.expected(index)
        most = max(proxy.tally.content_gets.values(), default=0)
        gets = sum(proxy.tally.content_gets.values())
        result.figures.update(reads=count, byte_exact=completed, creates=proxy.tally.creates,
                              content_gets=gets, most_gets_of_one_url=most,
                              faults=dict(proxy.tally.faults))  # fmt: skip
        result.expect(
            proxy.tally.faults["status_lag"] == 0 or completed > 0, "a lagging status delays, never fails"
        )
        result.expect(most <= 1, "a download URL is fetched at most once")
        result.expect(
            sum(proxy.tally.content_gets.values()) <= proxy.tally.creates, "no GET without its own create"
        )
    return result


# -- R4 crash ---------------------------------------------------------------------------------


def r4_crash(count: int) -> Result:
    """SIGKILL of the daemon mid-download: readers error within seconds, the next mount works."""
    result = Result("R4 crash")
    waits: list[float] = []
    with world("--throttle", "500000") as w:
        remounted = intact = 0
        leftovers = 0
        for round_ in range(count):
            with mount(w, w.server.url, "r4", killed=True) as (mnt, process):
                request = define(mnt, f"k{round_}", {"items": [{"type": "folder", "id": w.folder_id(2)}]})
                outcome: list[bytes | OSError] = []
                reader = threading.Thread(
                    target=lambda r=request, o=outcome: o.append(read(r / "request.zip"))
                )
                reader.start()
                time.sleep(0.5)
                process.kill()
                killed = time.monotonic()
                reader.join(30)
                waits.append(time.monotonic() - killed)
                result.expect(
                    bool(outcome) and isinstance(outcome[0], OSError), "a reader of a killed daemon errs"
                )
            with mount(w, w.server.url, "r4") as (mnt, _):
                remounted += 1
                intact += all((mnt / f"k{i}" / "request.json").exists() for i in range(round_ + 1))
                leftovers += len(list((w.work / "c-r4").glob("*.spool")))
        result.figures.update(kills=count, reader_error_seconds_max=round(max(waits), 2), remounted=remounted,
                              definitions_intact=intact, spools_left_behind=leftovers)  # fmt: skip
        result.expect(max(waits) < 5, "readers error within seconds")
        result.expect(remounted == intact == count, "the next mount works, no definition lost")
        result.expect(leftovers == 0, "no spool left behind")
    return result


# -- R5 storms --------------------------------------------------------------------------------


def r5_storm(count: int, seed: int = 5) -> Result:
    """10% of requests fail at random: every read byte-exact or loud; afterwards, all complete."""
    result = Result("R5 storms")
    plan = Plan(seed=seed, rate=0.1, stall_seconds=2.0, retry_after=1.0)
    with world() as w, FaultProxy(w.server.url, plan) as proxy:
        args = ("--stall-timeout", "1", "--queue-deadline", "30", "--reuse-seconds", "0")
        with mount(w, proxy.url, "r5", *args) as (mnt, _):
            # Each its own body (download_file_name): the proxy tells downloads apart by it.
            bodies = [{"items": [{"type": "folder", "id": w.folder_id(i)}], "download_file_name": f"s{i}"}
                      for i in range(count)]  # fmt: skip
            requests = [define(mnt, f"s{i}", body) for i, body in enumerate(bodies)]
            outcomes: dict[int, bytes | OSError] = {}
            lock = threading.Lock()

            def worker(indexes: list[int]) -> None:
                for i in indexes:
                    outcome = read(requests[i] / "request.zip")
                    with lock:
                        outcomes[i] = outcome

            threads = [threading.Thread(target=worker, args=(list(range(k, count, 4)),)) for k in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(600)
            exact = sum(
                1 for i, o in outcomes.items() if isinstance(o, bytes) and members(o) == w.expected(i)
            )
            loud = sum(1 for o in outcomes.values() if isinstance(o, OSError))
            wrong = count - exact - loud
            plan.rate = 0.0
            after = sum(
                1 for i in range(count) if members(read(requests[i] / "request.zip") or b"") == w.expected(i)
            )
        honoured, asked = _retry_after_honoured(proxy)
        result.figures.update(reads=count, byte_exact=exact, failed_loudly=loud, wrong_or_short=wrong,
                              complete_after_faults_stop=after, faults=dict(proxy.tally.faults),
                              retry_after_honoured=f"{honoured}/{asked}")  # fmt: skip
        result.expect(wrong == 0, "every read is byte-exact or fails loudly")
        result.expect(after == count, "once the faults stop, everything completes")
        result.expect(honoured == asked, "Retry-After is honoured")
    return result


def _retry_after_honoured(proxy: FaultProxy) -> tuple[int, int]:
    """For each 429 with Retry-After, the next create of the same body came no sooner."""
    honoured = 0
    for when, wait, body in proxy.tally.retry_after_bodies:
        later = [t for t, b in proxy.tally.create_bodies if b == body and t > when]
        if not later or min(later) - when >= wait - 0.05:
            honoured += 1
    return honoured, len(proxy.tally.retry_after_bodies)


# -- R6 secrets -------------------------------------------------------------------------------


def r6_secrets(worlds_work: list[Path], secrets: list[str]) -> Result:
    """No token or download URL in any log, status, xattr, file of the state and cache dirs, or ps."""
    result = Result("R6 secrets")
    found: list[str] = []
    scanned = 0
    for base in worlds_work:
        for path in base.rglob("*"):
            if not path.is_file() or "box" in path.relative_to(base).parts[:1]:
                continue
            scanned += 1
            text = path.read_bytes()
            found += [f"{path.name}: {s[:6]}…" for s in secrets if s.encode() in text]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
    found += [f"ps: {s[:6]}…" for s in secrets if s in ps]
    result.figures.update(files_scanned=scanned, secrets_found=len(found))
    result.expect(not found, f"no secret anywhere ({found[:3]})")
    return result


def r6_run(count: int) -> Result:
    """A run with faults and status/xattr reads, then every place a secret could leak is scanned."""
    keep = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}r6-"))
    try:
        with world() as w, FaultProxy(w.server.url, Plan(seed=6, rate=0.2)) as proxy:
            with mount(w, proxy.url, "r6", "-v") as (mnt, _):
                for index in range(count):
                    request = define(
                        mnt, f"x{index}", {"items": [{"type": "folder", "id": w.folder_id(index)}]}
                    )
                    read(request / "request.zip")
                    (keep / f"status{index}.json").write_bytes((request / "status.json").read_bytes())
                    with contextlib.suppress(OSError):
                        (keep / f"xattr{index}").write_bytes(
                            os.getxattr(request / "request.zip", "user.boxzipfs.status")
                        )
                ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
                (keep / "ps.txt").write_text(ps)
            secrets = [w.server.token, *(p.split("/")[3] for p in proxy.tally.content_gets)]
            shutil.copytree(w.work, keep / "work", ignore=shutil.ignore_patterns("box"), dirs_exist_ok=True)
        return r6_secrets([keep], secrets)
    finally:
        shutil.rmtree(keep, ignore_errors=True)


# -- R7 soak ----------------------------------------------------------------------------------


def _proc(pid: int) -> tuple[float, int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


def r7_soak(count: int) -> Result:
    """Reads in a row, then a mixed concurrent load: RSS drift, fds and threads back, all released."""
    result = Result("R7 soak")
    with world() as w, mount(w, w.server.url, "r7", "--reuse-seconds", "0") as (mnt, process):
        request = define(mnt, "soak", {"items": [{"type": "folder", "id": w.folder_id(0)}]})
        mixed = [
            define(mnt, f"m{i}", {"items": [{"type": "folder", "id": w.folder_id(i)}]}) for i in range(6)
        ]

        def mixed_load() -> None:
            threads = [threading.Thread(target=lambda r=r: read(r / "request.zip")) for r in mixed * 3]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)

        # Warm-up to the steady state: malloc arenas, libfuse's idle threads (up to 10),
        # httpx's pool of kept-alive connections (one per concurrent download). Both vary
        # with how each mixed load happens to overlap, so the baseline is the most that
        # three warm-up rounds left; a leak grows past it with the reads that follow.
        samples = []
        for _ in range(3):
            for _ in range(10):
                read(request / "request.zip")
            mixed_load()
            time.sleep(1.5)
            samples.append(_proc(process.pid))
        rss0 = samples[-1][0]
        fds0 = max(sample[1] for sample in samples)
        threads0 = max(sample[2] for sample in samples)
        bad = 0
        for _ in range(count):
            bad += members(read(request / "request.zip") or b"") != w.expected(0)
        mixed_load()
        time.sleep(1.5)
        rss1, fds1, threads1 = _proc(process.pid)
        active = [json.loads((r / "status.json").read_text())["phase"] for r in [request, *mixed]]
        spools = [p.name for p in (w.work / "c-r7").glob("*.spool") if not p.name.startswith("free-")]
        result.figures.update(reads=count, wrong_reads=bad, rss_drift_mib=round(rss1 - rss0, 1),
                              fds=f"{fds0} -> {fds1}", threads=f"{threads0} -> {threads1}",
                              downloads_not_done=sum(p not in ("succeeded",) for p in active),
                              spools_in_use=len(spools))  # fmt: skip
        result.expect(bad == 0, "every soak read is byte-exact")
        result.expect(rss1 - rss0 < 5, "RSS drift under 5 MiB")
        result.expect(fds1 <= fds0, "open files back to the baseline")
        result.expect(threads1 <= threads0, "threads back to the baseline")
        result.expect(len(spools) <= 8, "spools released")
    return result


# -- disk full ----------------------------------------------------------------------------------


def disk_full() -> Result:
    """The cache on a small tmpfs that fills: an error (ENOSPC or EIO), never corrupt bytes."""
    result = Result("disk full")
    with world(sizes=(200_000, 6_000_000)) as w:
        cache = w.work / "c-full"
        cache.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(cache)], check=True)
        try:
            args = [
                "--api-url",
                w.server.url,
                "--state-dir",
                str(w.work / "st-full"),
                "--cache-dir",
                str(cache),
            ]
            env = {"BOX_ACCESS_TOKEN": w.server.token, **DEV_ENV}
            with mounted(w.work / "mnt-full", args, w.work / "log-full", env, allow=FAULTS_LOGGED) as process:
                mnt = w.work / "mnt-full"
                big = define(mnt, "big", {"items": [{"type": "folder", "id": w.folder_id(1)}]})
                outcome = read(big / "request.zip")
                code = outcome.errno if isinstance(outcome, OSError) else None
                small = define(mnt, "small", {"items": [{"type": "folder", "id": w.folder_id(0)}]})
                after = members(read(small / "request.zip") or b"") == w.expected(0)
                alive = process.poll() is None
        finally:
            subprocess.run(["umount", "-l", str(cache)], check=False)
        result.figures.update(
            big_read=errno.errorcode.get(code or 0, "bytes"), daemon_alive=alive, small_after=after
        )
        result.expect(code in (errno.ENOSPC, errno.EIO), "a full disk is an error, never corrupt bytes")
        result.expect(alive and after, "the daemon lives on and other requests work")
    return result


# -- kernel semantics ----------------------------------------------------------------------------


def kernel_semantics(readers: int) -> Result:
    result = Result("kernel semantics")
    with world("--throttle", "3000000") as w, mount(w, w.server.url, "k") as (mnt, _):
        request = define(mnt, "k", {"items": [{"type": "folder", "id": w.folder_id(1)}]})
        whole = (request / "request.zip").read_bytes()
        fd = os.open(request / "request.zip", os.O_RDONLY)
        copy = os.dup(fd)
        os.close(fd)
        via_dup = b"".join(iter(lambda: os.read(copy, 1 << 20), b""))
        os.close(copy)
        result.expect(via_dup == whole, "a dup'ed descriptor reads after the other closed")
        rd, wr = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child reads through a descriptor opened before the fork
            try:
                with (request / "request.zip").open("rb") as handle:
                    os.write(wr, b"ok" if handle.read() == whole else b"no")
            finally:
                os._exit(0)
        os.close(wr)
        forked = os.read(rd, 2) == b"ok"
        os.waitpid(pid, 0)
        os.close(rd)
        result.expect(forked, "a reader in a forked child gets the archive")
        rng = random.Random(9)
        wrong = 0
        lock = threading.Lock()

        def random_reads() -> None:
            nonlocal wrong
            with (request / "request.zip").open("rb") as handle:
                for _ in range(50):
                    offset = rng.randrange(len(whole))
                    handle.seek(offset)
                    if handle.read(4096) != whole[offset : offset + 4096]:
                        with lock:
                            wrong += 1

        threads = [threading.Thread(target=random_reads) for _ in range(readers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        result.expect(wrong == 0, "readers at random offsets get the archive's bytes")
        fresh = define(mnt, "killed", {"items": [{"type": "folder", "id": w.folder_id(2)}]})
        victim = subprocess.Popen(["dd", f"if={fresh / 'request.zip'}", "of=/dev/null", "bs=64k"])
        survivor: list[bytes | OSError] = []
        other = threading.Thread(target=lambda: survivor.append(read(fresh / "request.zip")))
        other.start()
        time.sleep(0.3)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        other.join(60)
        ok = bool(survivor) and isinstance(survivor[0], bytes) and members(survivor[0]) == w.expected(2)
        result.expect(ok, "a reader killed mid-read leaves the others unaffected")
        result.figures.update(dup=via_dup == whole, fork=forked, random_readers=readers, random_wrong=wrong,
                              survivor_byte_exact=ok)  # fmt: skip
    return result


# -- large archives ---------------------------------------------------------------------------------


def large_archives(entries: int, big_gib: float) -> Result:
    """More than 65,535 entries and more than 4 GiB through the mount, checked by four readers."""
    result = Result("large archives")
    work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}large-"))
    try:
        root = work / "box"
        many = root / "many"
        for index in range(entries):
            folder = many / f"d{index // 1000:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"e{index}.txt").write_bytes(b"%d\n" % index)
        (root / "big").mkdir(parents=True)
        with (root / "big" / "sparse.bin").open("wb") as out:
            out.truncate(int(big_gib * (1 << 30)))  # sparse: fast to make, every byte still on the wire
        with start_local_server(root) as server:
            w = World(root, work, server, ["many", "big"])
            with mount(w, server.url, "large", "--cache-size", "20G") as (mnt, _):
                checks: dict[str, bool] = {}
                for index, label in ((0, "entries"), (1, "bytes")):
                    request = define(mnt, label, {"items": [{"type": "folder", "id": w.folder_id(index)}]})
                    out = work / f"{label}.zip"
                    shutil.copyfile(request / "request.zip", out)
                    for tool in (["unzip", "-tqq"], ["7z", "t"], ["bsdtar", "-tf"]):
                        done = subprocess.run([*tool, str(out)], capture_output=True, check=False)
                        checks[f"{label} {tool[0]}"] = done.returncode == 0
                    with zipfile.ZipFile(out) as archive:
                        infos = archive.infolist()
                        checks[f"{label} zipfile"] = len(infos) >= (entries if label == "entries" else 2)
                    result.figures[f"{label}_archive_bytes"] = out.stat().st_size
                    out.unlink()
        result.figures.update(entries=entries, big_gib=big_gib, **{k: v for k, v in checks.items()})
        result.expect(all(checks.values()), "unzip, 7z, bsdtar and zipfile accept both")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


SCENARIOS: dict[str, Callable[[bool], Result]] = {
    "R1": lambda full: r1_cuts(100 if full else 4),
    "R2": lambda full: r2_bad_input(1000 if full else 60),
    "R3": lambda full: r3_urls_once(60 if full else 8),
    "R4": lambda full: r4_crash(10 if full else 2),
    "R5": lambda full: r5_storm(200 if full else 16),
    "R6": lambda full: r6_run(30 if full else 6),
    "R7": lambda full: r7_soak(500 if full else 40),
    "disk": lambda full: disk_full(),
    "kernel": lambda full: kernel_semantics(16 if full else 4),
    "large": lambda full: large_archives(70_000, 4.2),
}


def is_clean() -> bool:
    """No boxzipfs mount left behind by a scenario of this process (other mounts on the host,
    another user's or another test run's, are not the harness's to judge)."""
    mine = f"/{WORK_PREFIX}"
    return not any(
        fields[2] == "fuse.boxzipfs" and mine in fields[1]
        for fields in (line.split() for line in Path("/proc/mounts").read_text().splitlines())
    )


if __name__ == "__main__":
    sys.exit("run scripts/chaos")

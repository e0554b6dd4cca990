"""DownloadManager: which ArchiveDownload serves an open of a request's archive.

Opens of the same request while its archive streams share that download. After
it succeeded, opens within ``reuse_seconds`` are served from its spool with the
exact size; after that, or after a failure, the next open creates a new archive.
When the last reader closes before the end, the download goes on for
``abandon_seconds`` (a quick reopen shares it), then stops and frees its slot
and spool. Completed spools are kept in an LRU cache bounded by ``cache_size``
bytes; an evicted spool is deleted once its last reader lets go.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachetools import LRUCache

from boxzipfs import metrics
from boxzipfs.download.api import ZipApi
from boxzipfs.download.archive import ArchiveDownload, DownloadSettings, Phase
from boxzipfs.download.filecache import FileCache
from boxzipfs.download.slots import SlotQueue
from boxzipfs.download.spool import Spool, SpoolPool
from boxzipfs.download.unpack import Extract
from boxzipfs.errors import Abandoned
from boxzipfs.models import RequestSpec
from boxzipfs.options import default

log = logging.getLogger(__name__)
MAX_KEPT = 4096  # completed downloads kept for reuse at most, whatever their bytes
JANITOR_SECONDS = 30.0


@dataclass(frozen=True)
class ManagerSettings:
    cache_dir: Path
    cache_size: int = default("cache_size")
    reuse_seconds: float = default("reuse_seconds")
    max_downloads: int = default("max_downloads")
    abandon_seconds: float = default("abandon_seconds")
    download: DownloadSettings = field(default_factory=DownloadSettings)
    files: FileCache | None = None  # browse files kept across remounts (by Box file ID and SHA-1)


class _SpoolCache(LRUCache[int, ArchiveDownload]):
    """Completed downloads by serial, sized by spool bytes; evictions go to ``on_evict``."""

    def __init__(self, maxsize: int, on_evict: Callable[[ArchiveDownload], None]) -> None:
        super().__init__(maxsize, getsizeof=lambda d: max(1, d.spool.length))
        self._on_evict = on_evict

    def popitem(self) -> tuple[int, ArchiveDownload]:
        key, download = super().popitem()
        metrics.CACHE_EVICTIONS.inc()
        self._on_evict(download)
        return key, download


@dataclass(eq=False)
class _Tracked:
    """The manager's bookkeeping for one download whose spool still exists."""

    serial: int
    readers: int = 0
    retired: bool = False  # no new reader may join; the spool goes with the last reader
    left_at: float | None = None  # when the last reader left a download still running


class DownloadManager:
    """Shares downloads between readers, queues them, and caches completed spools."""

    def __init__(
        self,
        client: ZipApi,
        settings: ManagerSettings,
        slots: SlotQueue | None = None,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.slots = slots or SlotQueue(settings.max_downloads)
        # Guards _latest, _tracked, _cache and _discarding (never held while waiting on a read).
        self._lock = threading.RLock()
        self._discarding: list[Spool] = []
        self._latest: dict[str, ArchiveDownload] = {}
        self._tracked: dict[ArchiveDownload, _Tracked] = {}
        # Work per open and per batch must not grow with history: the running downloads, and
        # the cached ones in the order they finished (so the reuse window expires from the front).
        self._running: set[ArchiveDownload] = set()
        self._finished: OrderedDict[ArchiveDownload, float] = OrderedDict()
        self._cache = _SpoolCache(settings.cache_size, self._retire)
        self._serials = itertools.count(1)
        settings.cache_dir.mkdir(parents=True, exist_ok=True)
        clean_spools(settings.cache_dir)
        # As many done spools kept to be written over as downloads run at once: each new
        # archive then overwrites warm pages instead of faulting in fresh ones (PERF-NOTES).
        self._pool = SpoolPool(settings.cache_dir, keep=max(2, settings.max_downloads))
        self._on_idle = on_idle
        self._closing = threading.Event()
        self._janitor = threading.Thread(target=self._clean_periodically, name="janitor", daemon=True)
        self._janitor.start()

    # -- opening and closing ----------------------------------------------------

    def acquire(self, name: str, spec: RequestSpec, extract: Extract | None = None) -> ArchiveDownload:
        """The download an open of ``name`` reads from; starts one if needed.

        ``extract``: deliver the archive's one file unpacked (a browse file), not the archive.
        """
        with self._locked():
            self._sweep()
            current = self._latest.get(name)
            if current is not None and self._reusable(current, spec, extract):
                self._touch(current)
            else:
                current = self._start(name, spec, extract)
            tracked = self._tracked[current]
            tracked.readers += 1
            tracked.left_at = None
            current.spool.attach()
            return current

    def release(self, download: ArchiveDownload) -> None:
        download.spool.detach()
        with self._locked():
            tracked = self._tracked.get(download)
            if tracked is not None:
                tracked.readers -= 1
                if tracked.readers <= 0 and tracked.retired:
                    self._discard(download)
                elif tracked.readers <= 0 and not download.done:
                    self._abandon_later(download, tracked)
            self._sweep()

    def current(self, name: str, spec: RequestSpec, extract: Extract | None = None) -> ArchiveDownload | None:
        """The download an open would join now (streaming or reusable), without starting one."""
        with self._locked():
            self._sweep()
            current = self._latest.get(name)
            if current is not None and self._reusable(current, spec, extract):
                return current
            return None

    def fleet_snapshot(self, remote: bool = True) -> dict[str, Any] | None:
        """The fleet's state when this mount is part of one."""
        fleet = getattr(self.slots, "fleet", None)
        return None if fleet is None else dict(fleet.snapshot(remote))

    def gauges(self) -> dict[str, float]:
        """Live counts for the metrics: downloads streaming and waiting, cache bytes."""
        with self._lock:
            downloads = list(self._running)
            cached = self._cache.currsize
        active = sum(1 for d in downloads if d.phase in (Phase.STREAMING, Phase.RESUMING))
        queued = sum(1 for d in downloads if d.phase is Phase.QUEUED)
        return {"downloads_active": active, "downloads_queued": queued, "cache_bytes": cached}

    def dump(self) -> list[str]:
        """A one-screen account of the downloads, slots, queue, cache and fleet (SIGUSR1)."""
        with self._lock:
            downloads = list(self._running)
            kept = len(self._finished)
            cached, budget = self._cache.currsize, self._cache.maxsize
        slots = self.slots
        lines = [
            f"downloads: {len(downloads)} running, {kept} finished remembered",
            f"slots: {slots.in_use} of {slots.slots} in use, "
            f"{sum(1 for d in downloads if d.phase is Phase.QUEUED)} queued",
            f"cache: {int(cached) >> 20} MiB of {int(budget) >> 20} MiB",
        ]
        for download in sorted(downloads, key=lambda d: d.id)[:20]:
            lines.append(
                f"  {download.id} {download.name}: {download.phase.value}, {download.spool.length} bytes, "
                f"{self.readers(download)} readers"
            )
        if len(downloads) > 20:
            lines.append(f"  ... and {len(downloads) - 20} more")
        if self.settings.files is not None:
            files = self.settings.files.stats()
            lines.append(
                f"browse cache: {files['files']} files, {files['bytes'] >> 20} MiB of "
                f"{files['budget'] >> 20} MiB, {files['hits']} served, {files['dropped']} dropped"
            )
        fleet = self.fleet_snapshot(remote=False)
        if fleet is not None:
            lines.append(f"fleet: {json.dumps(fleet, default=str)}")
        return lines

    def position(self, download: ArchiveDownload) -> int | None:
        """Its place in the queue for a download slot (None: not waiting)."""
        return self.slots.position(download)

    def latest(self, name: str) -> ArchiveDownload | None:
        with self._lock:
            return self._latest.get(name)

    def readers(self, download: ArchiveDownload) -> int:
        with self._lock:
            tracked = self._tracked.get(download)
            return tracked.readers if tracked else 0

    def busy(self, name: str) -> bool:
        with self._lock:
            current = self._latest.get(name)
            return current is not None and (not current.done or self.readers(current) > 0)

    def refresh(self, name: str) -> bool:
        """The next open of ``name`` creates a new archive; readers keep theirs. True if one
        was there to retire."""
        with self._locked():
            current = self._latest.get(name)
            if current is None:
                return False
            self._retire(current)
            return True

    def reused_until(self, download: ArchiveDownload) -> float | None:
        """Until when (time.time) a complete download is served to new opens; None if it is not."""
        with self._lock:
            tracked = self._tracked.get(download)
            state = download.snapshot()
            if tracked is None or tracked.retired or state.phase is not Phase.SUCCEEDED:
                return None
            finished = state.finished_monotonic or 0.0
        left = finished + self.settings.reuse_seconds - time.monotonic()
        return time.time() + left if left > 0 else None

    def forget(self, name: str) -> None:
        """Drop a removed request's downloads (its spool goes when unread)."""
        with self._locked():
            current = self._latest.pop(name, None)
            if current is not None:
                current.cancel()
                self._retire(current)

    def on_finished(self, download: ArchiveDownload) -> None:
        """Called when a download thread ends: cache a success, retire a failure."""
        self._keep_file(download)
        with self._locked():
            self._running.discard(download)
            tracked = self._tracked.get(download)
            if tracked is None:
                return
            if download.phase is Phase.SUCCEEDED and not tracked.retired:
                try:
                    self._cache[tracked.serial] = download
                    self._finished[download] = download.snapshot().finished_monotonic or time.monotonic()
                except ValueError:  # larger than the whole cache: keep only while read
                    self._retire(download)
                while len(self._cache) > MAX_KEPT:  # thousands of small browse files: oldest go
                    self._cache.popitem()
            else:
                self._retire(download)
            self._enforce_budget()

    def _keep_file(self, download: ArchiveDownload) -> None:
        """A browse file that arrived whole and matched its SHA-1 is kept across remounts too
        (a copy: spool files are recycled, and a cached file must never change under its name)."""
        files, extract = self.settings.files, download.extract
        if files is None or extract is None or not extract.sha1 or download.phase is not Phase.SUCCEEDED:
            return
        if files.contains(extract.file_id, extract.sha1) or download.spool.length > files.budget:
            return  # kept already, or larger than the whole share: no copy made only to be dropped
        copy = files.temporary(extract.file_id)
        try:
            shutil.copyfile(download.spool.path, copy)
            files.add(extract.file_id, extract.sha1, copy)
        except OSError as exc:
            copy.unlink(missing_ok=True)
            log.info("browse cache: %s not kept (%s)", download.name, exc.strerror)

    def shutdown(self) -> None:
        """Cancel everything and delete every spool."""
        self._closing.set()
        self.slots.close()
        with self._lock:
            downloads = list(self._tracked)
            for download in downloads:
                download.cancel()
        for download in downloads:
            download.join(timeout=5)
        with self._locked():
            for download in list(self._tracked):
                self._discard(download)
            self._latest.clear()
            self._cache.clear()
        clean_spools(self.settings.cache_dir)

    # -- internals ----------------------------------------------------------------

    def _reusable(self, download: ArchiveDownload, spec: RequestSpec, extract: Extract | None) -> bool:
        tracked = self._tracked.get(download)
        if tracked is None or tracked.retired or download.spec != spec or download.extract != extract:
            return False
        if download.phase in (Phase.FAILED, Phase.ABANDONED):
            return False
        if download.phase is Phase.SUCCEEDED:
            finished = download.snapshot().finished_monotonic or 0.0
            return time.monotonic() - finished < self.settings.reuse_seconds
        return True

    def _touch(self, download: ArchiveDownload) -> None:
        """Mark a cached download most recently used (LRUCache reorders on __getitem__ only)."""
        serial = self._tracked[download].serial
        if serial in self._cache:
            self._cache[serial]

    def _start(self, name: str, spec: RequestSpec, extract: Extract | None = None) -> ArchiveDownload:
        previous = self._latest.get(name)
        if previous is not None:
            self._retire(previous)
        serial = next(self._serials)
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:64]
        path = self.settings.cache_dir / f"{serial:06d}-{safe}.spool"
        self._pool.take(path)
        download = ArchiveDownload(
            name,
            spec,
            self.client,
            self.slots,
            path,
            self.settings.download,
            self._pool.give,
            extract,
            on_progress=self._progress,
        )
        self._latest[name] = download
        self._tracked[download] = _Tracked(serial)
        self._running.add(download)
        download.start()
        return download

    def _progress(self, download: ArchiveDownload) -> None:
        """Called by a download after each spool write (keep the disk budget) and at its end
        (file it as finished): a wake-up, not a watcher thread polling each download."""
        if download.done:
            self.on_finished(download)
        else:
            self._enforce_budget()

    def _enforce_budget(self) -> None:
        """Evict completed spools, least recently used first, while streaming ones grow.

        Streaming spools themselves are never cut (their URL is one-shot), so an
        archive bigger than the whole cache still streams; the cache then keeps nothing else.
        """
        with self._lock:
            streaming = sum(d.spool.length for d in self._running)
            used = self._cache.currsize + streaming
            while self._pool.bytes and used + self._pool.bytes > self.settings.cache_size:
                self._pool.drop()
            while len(self._cache) and self._cache.currsize + streaming > self.settings.cache_size:
                self._cache.popitem()

    def _retire(self, download: ArchiveDownload) -> None:
        """No new reader may use it; its spool goes when the last reader releases."""
        tracked = self._tracked.get(download)
        if tracked is None:
            return
        tracked.retired = True
        self._cache.pop(tracked.serial, None)
        self._finished.pop(download, None)
        if tracked.readers <= 0 and download.done:
            self._discard(download)

    def _abandon_later(self, download: ArchiveDownload, tracked: _Tracked) -> None:
        """The last reader left early: stop the download unless one returns within the grace."""
        left_at = tracked.left_at = time.monotonic()
        grace = self.settings.abandon_seconds

        def check() -> None:
            with self._lock:
                if tracked.readers > 0 or tracked.left_at != left_at or download.done:
                    return
                done = download.snapshot().received
            log.info("download %s: no reader for %gs, stopping it", download.name, grace)
            download.cancel(
                Abandoned(
                    f"stopped {grace:g}s after its last reader closed, at {done} bytes; "
                    "the next open starts anew"
                )
            )

        timer = threading.Timer(grace, check)
        timer.daemon = True
        timer.start()

    def _discard(self, download: ArchiveDownload) -> None:
        """Forget it; its spool is let go by ``_settle``, outside the lock (a discard waits
        for reads in flight, and no read may be waited for while the manager is locked)."""
        tracked = self._tracked.pop(download, None)
        if tracked is not None:
            self._cache.pop(tracked.serial, None)
        self._finished.pop(download, None)
        self._running.discard(download)
        succeeded = download.phase is Phase.SUCCEEDED
        if download.extract is not None and succeeded and self._latest.get(download.name) is download:
            # A browse file's last good download is not kept once its spool goes: thousands
            # of files are read. A failure stays, so its status keeps saying why.
            del self._latest[download.name]
        self._discarding.append(download.spool)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The manager's lock for a public call, and the spools it discarded let go after."""
        with self._lock:
            yield
        self._settle()

    def _settle(self) -> None:
        while True:
            with self._lock:
                spools, self._discarding = self._discarding, []
            if not spools:
                return
            for spool in spools:
                spool.discard()
            self._enforce_budget()  # their files may now wait in the pool

    def _clean_periodically(self) -> None:
        """An idle mount lets go of what its reuse window no longer covers, then of the memory."""
        period = min(max(self.settings.reuse_seconds / 2, 1.0), JANITOR_SECONDS)
        while not self._closing.wait(period):
            with self._locked():
                before = len(self._tracked)
                self._sweep()
                idle, let_go = not self._running, before - len(self._tracked)
            if idle and let_go and self._on_idle is not None:
                self._on_idle()

    def _sweep(self) -> None:
        """Retire cached downloads whose reuse window has passed: from the front of the
        finish order, so each open costs the expired ones only, never the whole history."""
        horizon = time.monotonic() - self.settings.reuse_seconds
        while self._finished:
            download, finished = next(iter(self._finished.items()))
            if finished >= horizon:
                return
            self._retire(download)  # pops it from _finished
            self._finished.pop(download, None)


def clean_spools(cache_dir: Path) -> None:
    """Remove spools left by an earlier run (killed before it could clean up)."""
    for leftover in cache_dir.glob("*.spool"):
        leftover.unlink(missing_ok=True)

"""Folder prefetch: a folder's small files in one zip download, each checked and cached.

``cp -r``, ``rsync``, ``tar`` and file managers read a folder's files one after
another. When ``after`` distinct files of one folder were opened within
``window`` seconds, the folder's other files of at most ``threshold`` bytes (and
not cached yet) are fetched as one zip download, at most ``max_files`` files and
``max_bytes`` bytes (and what the cache has room for) at a time, in name order,
which is the order those tools read in. Each file is unpacked as it streams (with
stream-unzip, stored or deflated), written under a temporary name, and enters the
file cache only if its size and SHA-1 are the ones Box listed. An open that finds
its file pending in a prefetch waits for it; a file that changed on Box since it
was listed, or that a broken or refused prefetch never delivered, is fetched on
its own: nothing stale is ever served. Larger files keep their own stream, and so
does a file read on its own. The open that makes a prefetch due waits for its file
in that prefetch: a ``cp -r`` of a folder costs two zip creates, not one per file.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stream_unzip import stream_unzip

from boxzipfs import metrics
from boxzipfs.download.api import ZipApi
from boxzipfs.download.filecache import FileCache
from boxzipfs.download.slots import SlotQueue
from boxzipfs.errors import BoxZipError
from boxzipfs.models import MAX_FILES_PER_ARCHIVE, ZipItem, ZipRequest
from boxzipfs.options import default

log = logging.getLogger(__name__)
OUTPUT_CHUNK = 256 << 10


@dataclass(frozen=True)
class Candidate:
    """A file a prefetch may fetch: what the folder listing says of it."""

    id: str
    name: str
    size: int
    sha1: str


@dataclass(frozen=True)
class PrefetchSettings:
    after: int = default("prefetch_after")  # distinct files of a folder opened; 0 turns it off
    threshold: int = default("prefetch_threshold")
    max_files: int = default("prefetch_max_files")
    max_bytes: int = default("prefetch_max_bytes")
    window: float = 60.0


class _Batch:
    def __init__(self, folder_id: str, files: list[Candidate]) -> None:
        self.folder_id = folder_id
        self.by_name = {f.name: f for f in files}
        self.events = {f.id: threading.Event() for f in files}
        self.delivered: set[str] = set()


class Prefetcher:
    """Starts folder prefetches and lets opens wait for the files they bring."""

    def __init__(
        self,
        api: ZipApi,
        slots: SlotQueue,
        cache: FileCache,
        settings: PrefetchSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._api = api
        self._slots = slots
        self._cache = cache
        self.settings = settings
        self._lock = threading.Lock()  # guards _opened, _pending, _threads and the counters
        # folder -> file id -> when opened, both oldest first: the last window's opens only,
        # forgotten from the front, so memory and the work per open stay flat over weeks.
        self._opened: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()
        self._pending: dict[str, _Batch] = {}  # file id -> the batch that brings it
        self._running: set[str] = set()  # folders with a prefetch under way
        self._threads: set[threading.Thread] = set()
        self._closing = threading.Event()
        self.batches = 0
        self.files = 0

    def noticed(self, folder_id: str, file_id: str, folder: Callable[[], Iterable[Candidate]]) -> None:
        """An open of ``file_id`` in ``folder_id``; starts a prefetch of the rest when it is due."""
        if self.settings.after <= 0 or not folder_id or self._closing.is_set():
            return
        now = self._clock()
        with self._lock:
            opened = self._watch(folder_id, file_id, now)
            if len(opened) < self.settings.after or folder_id in self._running:
                return  # not due, or under way (what it leaves out is looked at when it ends)
            self._running.add(folder_id)
            # the files opened before have their own downloads; this one comes with the rest
            already = (set(opened) - {file_id}) | set(self._pending)
        chosen: list[Candidate] = []
        try:
            chosen = self._choose(folder, already)
        finally:
            if not chosen:
                with self._lock:
                    self._running.discard(folder_id)
        if not chosen:
            return
        batch = _Batch(folder_id, chosen)
        with self._lock:
            for candidate in chosen:
                self._pending[candidate.id] = batch
            self.batches += 1
            thread = threading.Thread(
                target=self._run, args=(batch,), name=f"prefetch-{folder_id}", daemon=True
            )
            self._threads.add(thread)
        thread.start()

    def _choose(self, folder: Callable[[], Iterable[Candidate]], already: set[str]) -> list[Candidate]:
        limit = min(self.settings.max_files, MAX_FILES_PER_ARCHIVE)
        # what fits without evicting, or half the cache (older entries then go, never a pinned one)
        room = min(self.settings.max_bytes, max(self._cache.room(), self._cache.budget // 2))
        chosen: list[Candidate] = []
        total = 0
        for candidate in sorted(folder(), key=lambda c: c.name):
            if candidate.id in already or candidate.size > self.settings.threshold:
                continue
            if self._cache.contains(candidate.id, candidate.sha1):
                continue
            if len(chosen) >= limit or total + candidate.size > room:
                break
            chosen.append(candidate)
            total += candidate.size
        return chosen

    def wait(self, file_id: str) -> bool:
        """If a prefetch brings ``file_id``, wait for it; True if it arrived (in the cache)."""
        with self._lock:
            batch = self._pending.get(file_id)
        if batch is None:
            return False
        batch.events[file_id].wait()
        return file_id in batch.delivered

    def pending(self, file_id: str) -> str | None:
        """The folder whose prefetch brings ``file_id`` (an open of it waits for that), if any."""
        with self._lock:
            batch = self._pending.get(file_id)
        return None if batch is None else batch.folder_id

    def _run(self, batch: _Batch) -> None:
        ticket = object()
        files = list(batch.by_name.values())
        log.info(
            "prefetching %d files (%d KiB) of folder %s in one download",
            len(files), sum(f.size for f in files) >> 10, batch.folder_id,
        )  # fmt: skip
        try:
            with self._slots.slot(ticket):
                request = ZipRequest(
                    tuple(ZipItem("file", f.id) for f in files), f"prefetch-{batch.folder_id}"
                )
                download = self._api.create_zip_download(request)
                with self._api.open_content(download, self._closing.is_set) as content:
                    self._unpack(batch, content)
        except Exception as exc:  # a refused create, a broken stream, a full disk: the rest go alone
            log.info(
                "prefetch of folder %s stopped after %d of %d files (%s): the rest are fetched alone",
                batch.folder_id, len(batch.delivered), len(files), exc,
            )  # fmt: skip
        finally:
            with self._lock:
                for candidate in files:
                    self._pending.pop(candidate.id, None)
                self._running.discard(batch.folder_id)
                self.files += len(batch.delivered)
                self._threads.discard(threading.current_thread())
            for event in batch.events.values():
                event.set()
            if batch.delivered:
                log.info(
                    "prefetched %d files of folder %s in one download", len(batch.delivered), batch.folder_id
                )

    def _unpack(self, batch: _Batch, content: Iterable[bytes]) -> None:
        for raw, _, chunks in stream_unzip(content, chunk_size=OUTPUT_CHUNK):
            if self._closing.is_set():
                raise BoxZipError("the mount is shutting down")
            candidate = batch.by_name.get(raw.decode("utf-8", "replace"))
            if candidate is None or raw.endswith(b"/"):
                for _ in chunks:  # not asked for (a folder entry): drained
                    pass
                continue
            if self._keep(candidate, chunks):
                batch.delivered.add(candidate.id)
            batch.events[candidate.id].set()

    def _keep(self, candidate: Candidate, chunks: Iterable[bytes]) -> bool:
        """Write one file; into the cache only if it is exactly what Box listed."""
        path = self._cache.temporary(candidate.id)
        digest = hashlib.sha1(usedforsecurity=False)
        total = 0
        try:
            with path.open("wb") as handle:
                for chunk in chunks:
                    digest.update(chunk)
                    total += len(chunk)
                    handle.write(chunk)
        except BaseException:  # the stream broke inside this file: nothing half-written stays
            path.unlink(missing_ok=True)
            raise
        if total != candidate.size or digest.hexdigest() != candidate.sha1.lower():
            path.unlink(missing_ok=True)
            log.info("prefetch: %s changed on Box since it was listed; it is fetched alone", candidate.name)
            return False
        kept = self._cache.add(candidate.id, candidate.sha1, path)
        if kept:
            metrics.PREFETCHED.inc()
        return kept

    def _watch(self, folder_id: str, file_id: str, now: float) -> OrderedDict[str, float]:
        """Record an open (lock held); the folder's opens within the window, oldest first."""
        window = self.settings.window
        while self._opened:  # folders whose last open is older than the window
            oldest = next(iter(self._opened.values()))
            if oldest and now - next(reversed(oldest.values())) <= window:
                break
            self._opened.popitem(last=False)
        opened = self._opened.pop(folder_id, None) or OrderedDict()
        self._opened[folder_id] = opened  # the most recently opened folder last
        opened.pop(file_id, None)
        opened[file_id] = now
        while now - next(iter(opened.values())) > window:
            opened.popitem(last=False)
        return opened

    def stats(self) -> dict[str, int]:
        with self._lock:
            watched = sum(len(files) for files in self._opened.values())
            return {
                "batches": self.batches, "files": self.files, "pending": len(self._pending),
                "opens_watched": watched,
            }  # fmt: skip

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)

"""Browse files kept on disk across remounts, each under its Box file ID and SHA-1.

A file enters only whole and checked: its bytes are written to a temporary name,
their size and SHA-1 compared with Box's listing, then renamed into place, so a
crash leaves at most a temporary file (removed at the next start), never a
half-written entry. An entry is checked against its SHA-1 again the first time a
process serves it (disk corruption, a file edited by hand): one that no longer
matches is dropped, never served. A changed file on Box has a new SHA-1, so its
old entry is simply never asked for again and ages out. The cache keeps to its
byte budget, least recently used first, and never removes an entry a reader holds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

from boxzipfs import metrics

log = logging.getLogger(__name__)
TEMP_PREFIX = ".tmp-"
HASH_BLOCK = 1 << 20


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


MAX_ENTRIES = 200_000  # about 250 bytes of index each: the daemon's memory stays bounded with tiny files


class FileCache:
    """Verified copies of Box files in ``directory``, within ``budget`` bytes and ``max_entries`` files."""

    def __init__(self, directory: Path, budget: int, max_entries: int = MAX_ENTRIES) -> None:
        self.directory = directory
        self.budget = budget
        self.max_entries = max_entries
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()  # guards _entries, _verified, _pins and _size
        self._entries: OrderedDict[str, int] = OrderedDict()  # name -> bytes, least recent first
        self._verified: set[str] = set()  # checked against their SHA-1 by this process
        self._pins: dict[str, int] = {}  # name -> readers holding it
        self._size = 0
        self.hits = 0
        self.dropped = 0
        found = []
        for path in directory.iterdir():
            if path.name.startswith(TEMP_PREFIX):
                path.unlink(missing_ok=True)  # half-written when a mount died
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            found.append((st.st_mtime_ns, path.name, st.st_size))
        for _, name, size in sorted(found):
            self._entries[name] = size
            self._size += size
        self._evict()

    @staticmethod
    def key(file_id: str, sha1: str) -> str:
        return f"{file_id}-{sha1.lower()}"

    def contains(self, file_id: str, sha1: str) -> bool:
        with self._lock:
            return self.key(file_id, sha1) in self._entries

    def temporary(self, file_id: str) -> Path:
        """A fresh temporary path for writing a file that may enter the cache."""
        return self.directory / f"{TEMP_PREFIX}{file_id}-{os.getpid()}-{threading.get_ident()}"

    def lookup(self, file_id: str, sha1: str, size: int) -> Path | None:
        """The entry's path, pinned for a reader (``unpin`` when done), if it is there and whole."""
        name = self.key(file_id, sha1)
        path = self.directory / name
        with self._lock:
            if name not in self._entries:
                return None
            verified = name in self._verified
            self._pins[name] = self._pins.get(name, 0) + 1
        try:
            good = path.stat().st_size == size and (verified or sha1_of(path) == sha1.lower())
        except OSError:
            good = False
        with self._lock:
            if good:
                self._verified.add(name)
                self._entries.move_to_end(name)
                self.hits += 1
                metrics.BROWSE_CACHE_HITS.inc()
                return path
            self._unpin_locked(name)
            self._forget_locked(name)
            self.dropped += 1
        log.warning("browse cache: %s no longer matches its SHA-1 or size; dropped", name)
        path.unlink(missing_ok=True)
        return None

    def unpin(self, file_id: str, sha1: str) -> None:
        with self._lock:
            self._unpin_locked(self.key(file_id, sha1))
        self._evict()

    def _unpin_locked(self, name: str) -> None:
        count = self._pins.get(name, 0) - 1
        if count > 0:
            self._pins[name] = count
        else:
            self._pins.pop(name, None)

    def _forget_locked(self, name: str) -> None:
        size = self._entries.pop(name, None)
        if size is not None:
            self._size -= size
        self._verified.discard(name)

    def add(self, file_id: str, sha1: str, written: Path) -> bool:
        """Move ``written`` (already checked against ``sha1`` by the caller) into the cache;
        False (and ``written`` removed) when it cannot fit."""
        size = written.stat().st_size
        if size > self.budget:
            written.unlink(missing_ok=True)
            return False
        name = self.key(file_id, sha1)
        os.replace(written, self.directory / name)
        with self._lock:
            self._forget_locked(name)
            self._entries[name] = size
            self._size += size
            self._verified.add(name)
        self._evict()
        return True

    def room(self) -> int:
        """Bytes that can enter without evicting anything."""
        with self._lock:
            return max(0, self.budget - self._size)

    def _over(self) -> bool:
        return self._size > self.budget or len(self._entries) > self.max_entries

    def _evict(self) -> None:
        """Least recent first, skipping what readers hold; the common case (nothing to evict)
        costs nothing, whatever the number of entries."""
        doomed = []
        with self._lock:
            if not self._over():
                return
            for name in list(self._entries):
                if not self._over():
                    break
                if name in self._pins:
                    continue  # a reader holds it
                doomed.append(name)
                self._forget_locked(name)
        for name in doomed:
            (self.directory / name).unlink(missing_ok=True)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"files": len(self._entries), "bytes": self._size, "budget": self.budget,
                    "hits": self.hits, "dropped": self.dropped}  # fmt: skip

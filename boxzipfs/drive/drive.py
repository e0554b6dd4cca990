"""Drive: what the mount offers, in filesystem-neutral terms.

Request directories (defined by the user, persisted) and ``by-id`` directories
(one Box folder or file, no definition needed) each have an archive, a status
and a definition. The FUSE adapter turns paths into calls on this class and its
exceptions into errno; everything here is testable without a mount.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from boxzipfs.download.archive import ArchiveDownload, Phase
from boxzipfs.download.filecache import FileCache
from boxzipfs.download.manager import DownloadManager
from boxzipfs.download.prefetch import Candidate, Prefetcher
from boxzipfs.download.unpack import Extract
from boxzipfs.drive.browse import BoxEntry, BrowseTree
from boxzipfs.drive.definitions import DefinitionStore
from boxzipfs.drive.statusdoc import render, status_document
from boxzipfs.errors import ArchiveIncomplete, Refused, RequestInvalid
from boxzipfs.models import (
    RequestSpec,
    ZipItem,
    ZipRequest,
    check_request_prefix,
    parse_request_spec,
)

log = logging.getLogger(__name__)

BY_ID = "by-id"
BY_ID_NAME = re.compile(r"(folder|file)-(\d+)")
BROWSE_SEEN = 100  # browse files whose status ``boxzipfs status`` shows


@dataclass(frozen=True)
class RequestKey:
    """A request directory: ``by_id`` ones live under MOUNT/by-id/."""

    name: str
    by_id: bool = False

    @property
    def label(self) -> str:
        return f"{BY_ID}/{self.name}" if self.by_id else self.name


class OpenArchive:
    """One reader's hold on a download: its bytes and attributes; ``close`` lets go (once)."""

    def __init__(self, manager: DownloadManager, download: ArchiveDownload) -> None:
        self._manager = manager
        self._download = download
        self._closed = False
        self._lock = threading.Lock()  # guards _closed

    @property
    def complete(self) -> bool:
        return self._download.complete

    @property
    def version(self) -> object:
        """Which archive this is: a new download is a new version."""
        return (self._download.name, self._download.snapshot().created_ns)

    def attributes(self) -> tuple[int, int]:
        return self._download.attributes()

    def wait_done(self) -> None:
        """Block until the archive is complete; raises why it never will be."""
        self._download.wait_done()

    def read(self, offset: int, size: int) -> bytes:
        return self._download.read(offset, size)

    def read_into(self, offset: int, into: memoryview) -> int:
        return self._download.read_into(offset, into)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._manager.release(self._download)


class CachedFile:
    """A reader's hold on a browse file in the verified file cache: its bytes, no download."""

    complete = True

    def __init__(self, files: FileCache, entry: BoxEntry, path: Path) -> None:
        self._files = files
        self._entry = entry
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # the bytes stay ours even if evicted
        self._lock = threading.Lock()  # guards _fd
        self.version: object = ("cached", entry.id, entry.sha1)

    def attributes(self) -> tuple[int, int]:
        return self._entry.size or 0, self._entry.mtime_ns

    def wait_done(self) -> None:
        return

    def read(self, offset: int, size: int) -> bytes:
        return os.pread(self._fd, size, offset)

    def read_into(self, offset: int, into: memoryview) -> int:
        return os.preadv(self._fd, [into], offset)

    def close(self) -> None:
        with self._lock:
            if self._fd < 0:
                return
            os.close(self._fd)
            self._fd = -1
        assert self._entry.sha1 is not None
        self._files.unpin(self._entry.id, self._entry.sha1)


Reader = OpenArchive | CachedFile


class Drive:
    """Request directories, their definitions, archives and status."""

    def __init__(
        self,
        store: DefinitionStore,
        manager: DownloadManager,
        wait_for_size: bool = False,
        browse: BrowseTree | None = None,
        prefetcher: Prefetcher | None = None,
    ) -> None:
        self.store = store
        self.manager = manager
        self.files = manager.settings.files if manager is not None else None  # kept across remounts
        self.prefetcher = prefetcher
        self.wait_for_size = wait_for_size
        self.browse = browse
        self._browse_seen: OrderedDict[str, tuple[str, BoxEntry]] = OrderedDict()  # file id -> path
        # Guards _browse_seen, _definition_errors and _by_id_seen.
        self._lock = threading.Lock()
        self._definition_errors: dict[str, str] = {}
        self._by_id_seen: set[str] = set()

    # -- directories ----------------------------------------------------------------

    def request_names(self) -> list[str]:
        return self.store.names()

    def by_id_names(self) -> list[str]:
        with self._lock:
            return sorted(self._by_id_seen)

    def exists(self, key: RequestKey) -> bool:
        if key.by_id:
            return BY_ID_NAME.fullmatch(key.name) is not None
        return self.store.exists(key.name)

    def make(self, name: str) -> None:
        try:
            self.store.create(name)
        except FileExistsError:
            raise Refused(errno.EEXIST, f"request {name!r} exists") from None

    def remove(self, name: str) -> None:
        if not self.store.exists(name):
            raise Refused(errno.ENOENT, f"no request {name!r}")
        if self.manager.busy(name):
            raise Refused(errno.EBUSY, f"request {name!r} is being downloaded or read")
        self.manager.forget(name)
        self.store.remove(name)
        with self._lock:
            self._definition_errors.pop(name, None)

    def undefine(self, name: str) -> None:
        """``rm request.json``: the request stays, without a definition, until one is written
        (install removes the file it replaces). Readers of its archive keep their download."""
        if not self.store.clear(name):
            raise Refused(errno.ENOENT, "no request.json to remove")
        log.info("request %s: request.json removed; the request has no definition until one is written", name)

    # -- definitions ------------------------------------------------------------------

    def spec(self, key: RequestKey) -> RequestSpec | None:
        if key.by_id:
            match = BY_ID_NAME.fullmatch(key.name)
            if match is None:
                return None
            item = ZipItem.parse(f"{match.group(1)}:{match.group(2)}")
            return RequestSpec(ZipRequest((item,), f"{item.type}-{item.id}"))
        try:
            return self.store.get(key.name)
        except RequestInvalid as exc:  # edited on disk behind our back
            log.warning("stored definition of %s is invalid: %s", key.name, exc)
            return None

    def definition_file(self, key: RequestKey) -> tuple[bytes, int | None]:
        """request.json's bytes, as written, and when it was written (None: not stored)."""
        if key.by_id:
            spec = self.spec(key)
            return (spec.dumps() if spec else b""), None
        return self.store.raw(key.name)

    def _refused(self, name: str, exc: RequestInvalid) -> None:
        with self._lock:
            self._definition_errors[name] = f"request.json refused: {exc}"
        log.warning("request %s: request.json refused: %s", name, exc)

    def note_emptied(self, name: str) -> None:
        """request.json was truncated and nothing written: the old definition stays."""
        self._refused(name, RequestInvalid("request.json was left empty"))

    def check_partial_definition(self, name: str, data: bytes) -> None:
        """Refuse bytes being written to request.json as soon as they cannot become valid."""
        try:
            check_request_prefix(data)
        except RequestInvalid as exc:
            self._refused(name, exc)
            raise

    def save_definition(self, name: str, data: bytes) -> None:
        """Validate and store a written request.json; a bad one leaves the old intact."""
        try:
            spec = parse_request_spec(data)
        except RequestInvalid as exc:
            self._refused(name, exc)
            raise
        self.store.put(name, spec, data)
        with self._lock:
            self._definition_errors.pop(name, None)

    # -- archives ---------------------------------------------------------------------

    def waits(self, spec: RequestSpec) -> bool:
        """Whether stat and open of this request's archive wait for its exact size."""
        return self.wait_for_size if spec.wait_for_size is None else spec.wait_for_size

    def _require_spec(self, key: RequestKey) -> RequestSpec:
        spec = self.spec(key)
        if spec is None:
            raise Refused(errno.ENOENT, f"request {key.label} has no definition yet")
        return spec

    def archive_attributes(self, key: RequestKey, may_wait: bool = True) -> tuple[int, int]:
        """request.zip's (size, mtime in ns) now, without starting a download.

        Size is exact once an archive is complete, 0 while unknown; ``wait_for_size``
        requests wait for it, which does start a download. The mtime is that of the
        archive a read would get, so rsync, make and backup tools see each new one.
        """
        spec = self._require_spec(key)
        current = self.manager.current(key.label, spec)
        if (current is None or not current.complete) and self.waits(spec) and may_wait:
            with contextlib.closing(self.open_archive(key)) as opened:
                return opened.attributes()
        if current is None:
            return 0, time.time_ns()  # the next read creates a new archive, as of now
        return current.attributes()

    def open_archive(self, key: RequestKey) -> OpenArchive:
        """Join (or start) the request's download; returns once bytes can flow.

        Raises the download's error if it failed before streaming (auth, 404, limits, 429s).
        """
        spec = self._require_spec(key)
        if key.by_id:
            with self._lock:
                self._by_id_seen.add(key.name)
        download = self.manager.acquire(key.label, spec)
        try:
            download.wait_started()
            if self.waits(spec):
                download.wait_done()
        except BaseException:
            self.manager.release(download)
            raise
        return OpenArchive(self.manager, download)

    # -- status -----------------------------------------------------------------------

    def status(self, key: RequestKey, poll: bool = True) -> bytes:
        """status.json; ``poll`` False never calls Box (stat needs a size, not fresh counts)."""
        download = self.manager.latest(key.label)
        position = self.manager.position(download) if download is not None else None
        readers = self.manager.readers(download) if download is not None else 0
        with self._lock:
            definition_error = None if key.by_id else self._definition_errors.get(key.name)
        spec = self.spec(key)
        waits = self.waits(spec) if spec else None
        doc = status_document(key.label, spec, waits, download, position, readers, definition_error, poll)
        doc.update(self._next_read(download))
        fleet = self.manager.fleet_snapshot(remote=poll)
        if fleet is not None:
            doc["fleet"] = fleet
        return render(doc)

    def _next_read(self, download: ArchiveDownload | None) -> dict[str, Any]:
        """Which archive the next read gets: this one (until when), this download, or a new one."""
        if download is None or (download.done and download.phase is not Phase.SUCCEEDED):
            return {"next_read": "creates a new archive", "reused_until": None}
        if not download.done:
            return {"next_read": "joins this download", "reused_until": None}
        until = self.manager.reused_until(download)
        if until is None:
            return {"next_read": "creates a new archive", "reused_until": None}
        stamp = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"next_read": "reuses this archive", "reused_until": stamp}

    def refresh(self, key: RequestKey) -> None:
        """request.json was touched: the next read creates a new archive."""
        if self.manager.refresh(key.label):
            log.info("request %s: refreshed; the next read creates a new archive", key.label)

    # -- browse: Box files by name ----------------------------------------------------

    @staticmethod
    def folder_key(folder: BoxEntry) -> RequestKey:
        """A Box folder's archive is its by-id request: one download shared by both paths."""
        return RequestKey(f"folder-{folder.id}", by_id=True)

    @staticmethod
    def _file_download(entry: BoxEntry) -> tuple[str, RequestSpec, Extract]:
        item = ZipItem("file", entry.id)
        spec = RequestSpec(ZipRequest((item,), f"file-{entry.id}"))
        return f"browse/file-{entry.id}", spec, Extract(entry.size or 0, entry.mtime_ns, entry.sha1, entry.id)

    def open_file(self, entry: BoxEntry, path: str) -> Reader:
        """A Box file's bytes: from the verified file cache, from a folder prefetch that brings
        it, or from the download of that one file, unpacked as it streams.

        A file whose listing gave no size is refused: its size is what makes every read
        exact, and a guess (0) would let ``cp`` copy an empty file and exit 0.
        """
        if entry.size is None:
            raise ArchiveIncomplete(f"the folder listing gave no size for {path}; it cannot be read exactly")
        with self._lock:
            self._browse_seen.pop(entry.id, None)
            self._browse_seen[entry.id] = (path, entry)
            while len(self._browse_seen) > BROWSE_SEEN:
                self._browse_seen.popitem(last=False)
        cached = self._cached(entry)
        if cached is not None:
            return cached
        if self.prefetcher is not None and entry.sha1:
            self.prefetcher.noticed(entry.parent_id, entry.id, lambda: self._siblings(entry.parent_id))
            if self.prefetcher.wait(entry.id):
                cached = self._cached(entry)
                if cached is not None:
                    return cached
        name, spec, extract = self._file_download(entry)
        download = self.manager.acquire(name, spec, extract)
        try:
            download.wait_started()
        except BaseException:
            self.manager.release(download)
            raise
        return OpenArchive(self.manager, download)

    def _cached(self, entry: BoxEntry) -> CachedFile | None:
        if self.files is None or not entry.sha1 or entry.size is None:
            return None
        path = self.files.lookup(entry.id, entry.sha1, entry.size)
        return None if path is None else CachedFile(self.files, entry, path)

    def _siblings(self, folder_id: str) -> list[Candidate]:
        """The files of a folder a prefetch may bring (those with a size and a SHA-1)."""
        if self.browse is None:
            return []
        listing = self.browse.listing(folder_id)
        return [
            Candidate(e.id, e.name, e.size, e.sha1)
            for e in listing.files.values()
            if e.kind == "file" and e.size is not None and e.sha1
        ]

    def file_status(self, entry: BoxEntry, path: str) -> bytes:
        """The live status of a browse file (its xattr), like a request's status.json."""
        return render(self._file_document(entry, path))

    def browse_statuses(self) -> list[dict[str, Any]]:
        """The status of the browse files read lately (the last BROWSE_SEEN), oldest first."""
        with self._lock:
            seen = list(self._browse_seen.values())
        return [self._file_document(entry, path) for path, entry in seen]

    def _file_document(self, entry: BoxEntry, path: str) -> dict[str, Any]:
        name, spec, _ = self._file_download(entry)
        download = self.manager.latest(name)
        position = self.manager.position(download) if download is not None else None
        readers = self.manager.readers(download) if download is not None else 0
        doc = status_document(path, spec, False, download, position, readers, None, poll=False)
        doc.update(box_file_id=entry.id, size=entry.size)
        folder = self.prefetcher.pending(entry.id) if self.prefetcher is not None else None
        if folder is not None:  # an open of it waits for that download: say so
            doc["prefetch"] = f"coming in the one download of folder {folder}'s files"
        return doc

"""ArchiveDownload: one Box zip download of one request, fetched exactly once.

Life: wait for a download slot (queued) -> create the zip download and GET its
one-shot URL (creating; a 429 from either waits for Retry-After and creates
anew, until the deadline: throttled) -> stream through a bounded buffer into the
spool (streaming) -> check that the archive ends with a zip end record and read
Box's final status (succeeded, or failed with the reason).

A stream that breaks (reset, stall past the read timeout, an end without the
zip end record) is resumed, up to ``resume_attempts`` times, each waiting for a
slot like any download: a new create of the same request, whose first N bytes
are compared with the N already spooled (resuming) and never stored twice; if
all match, the stream goes on appending at N. One differing byte fails the
download (ArchiveChanged): an archive spliced from two versions is impossible. Readers share the
spool; Box's status endpoint is polled at most once per ``status_interval``
however often asked. ``cancel`` stops it at any point (abandoned, or shutdown).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from boxzipfs import metrics
from boxzipfs.client.box import SOCKET_READ_BYTES, BoxClient, ContentStream
from boxzipfs.download.slots import Cancelled, SlotQueue
from boxzipfs.download.split import Joiner, SplitProgress, plan_request
from boxzipfs.download.spool import Spool
from boxzipfs.download.unpack import Extract
from boxzipfs.errors import (
    Abandoned,
    ArchiveChanged,
    ArchiveIncomplete,
    BoxAPIError,
    BoxZipError,
    LimitExceeded,
    NetworkError,
    NotFound,
    QueueTimeout,
    StreamBroken,
    TooManyRequests,
)
from boxzipfs.models import RequestSpec, ZipDownload, ZipRequest, ZipStatus

log = logging.getLogger(__name__)


class Phase(StrEnum):
    QUEUED = "queued"
    CREATING = "creating"
    THROTTLED = "throttled"  # waiting out Box's 429 before creating anew
    STREAMING = "streaming"
    RESUMING = "resuming"  # re-reading a new stream's first bytes against the spool
    LISTING = "listing"  # past Box's limits: listing the request's folders to split it
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"  # every reader left early; stopped, slot and spool freed


FINAL = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.ABANDONED})


@dataclass(frozen=True)
class DownloadSettings:
    buffer_size: int = 1 << 20  # bytes gathered from the socket per spool write
    queue_deadline: float = 600.0
    status_interval: float = 1.0
    final_status_wait: float = 10.0
    default_retry_after: float = 2.0
    resume_attempts: int = 3


class _LastRead:
    """The socket's chunks, remembering whether the last read came back short
    (nothing more was waiting: time to hand readers what has arrived)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.short = False

    def was_short(self) -> bool:
        return self.short

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.short = len(chunk) < SOCKET_READ_BYTES
            yield chunk


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ArchiveDownload:
    """One archive streamed once into a spool, shared by its readers."""

    def __init__(
        self,
        name: str,
        spec: RequestSpec,
        client: BoxClient,
        slots: SlotQueue,
        spool_path: Path,
        settings: DownloadSettings,
        recycle: Callable[[Path], None] | None = None,
        extract: Extract | None = None,
    ) -> None:
        self.name = name
        self.spec = spec
        self.extract = extract  # the spool then holds the one file unpacked, not the archive
        self.spool = Spool(spool_path, recycle)
        self._client = client
        self._slots = slots
        self._settings = settings
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_reason: BoxZipError = BoxZipError("the mount is shutting down")
        self.started = threading.Event()  # set once streaming began or the download failed
        self.phase = Phase.QUEUED
        self.error: BoxZipError | None = None
        self.zip_download: ZipDownload | None = None
        self.box_status: ZipStatus | None = None
        self._polled_at = 0.0
        self.received = 0
        self.served = 0
        self.resumes = 0
        self.resume_reasons: list[str] = []
        self.split: SplitProgress | None = None  # set when the request is joined from parts
        self.queued_at = _now_iso()
        self.stream_started: float | None = None
        self.stream_ended: float | None = None
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.finished_monotonic: float | None = None
        self.retry_at: float | None = None
        self.throttled: dict[str, Any] | None = None  # Box's last 429: code, status, count
        self.created_ns = time.time_ns()
        self.finished_ns: int | None = None
        self._thread = threading.Thread(target=self._run, name=f"download-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self, reason: BoxZipError | None = None) -> None:
        """Stop waiting or streaming; readers get ``reason`` (default: shutting down)."""
        if reason is not None:
            self._stop_reason = reason
        self._stop.set()
        if self._thread.is_alive():
            self._slots.cancel(self)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the download thread (``done`` tells whether it ended)."""
        self._thread.join(timeout)

    @property
    def done(self) -> bool:
        return self.phase in FINAL

    def attributes(self) -> tuple[int, int]:
        """(size, mtime in ns) of this archive: exact size and completion time once complete,
        else 0 and the time it was created (a new archive gets a new time)."""
        if self.spool.complete:
            return self.spool.length, self.finished_ns or self.created_ns
        return 0, self.created_ns

    def wait_started(self) -> None:
        """Block until bytes can flow, then raise the download's error if it failed first."""
        self.started.wait()
        if self.phase is Phase.FAILED and self.error is not None:
            raise self.error

    def read(self, offset: int, size: int) -> bytes:
        data = self.spool.read(offset, size)
        with self._lock:
            self.served += len(data)
        metrics.BYTES_READ.inc(len(data))
        return data

    # -- the download thread --------------------------------------------------

    def _run(self) -> None:
        try:
            self.spool.open()
            self._stream_resuming()
            self._check_end()
        except Cancelled:
            self._fail(self._stop_reason)
        except BoxZipError as exc:
            self._fail(exc)
        except Exception as exc:
            log.exception("download %s failed unexpectedly", self.name)
            self._fail(BoxZipError(f"internal error: {type(exc).__name__}"))
        else:
            with self._lock:
                self.phase = Phase.SUCCEEDED
                self._finish_times()
            self.spool.finish()
            metrics.DOWNLOADS.labels("succeeded", "").inc()
            log.info("download %s succeeded: %d bytes", self.name, self.received)
        finally:
            self._slots.release(self)  # also forgets a cancel that came while it waited
            self.started.set()

    def _finish_times(self) -> None:
        self.finished_at = _now_iso()
        self.finished_monotonic = time.monotonic()
        self.finished_ns = time.time_ns()

    def _fail(self, error: BoxZipError) -> None:
        with self._lock:
            self.error = error
            self.phase = Phase.ABANDONED if isinstance(error, Abandoned) else Phase.FAILED
            self._finish_times()
            if self.stream_started is not None and self.stream_ended is None:
                self.stream_ended = time.monotonic()
        self.spool.fail(error)
        abandoned = isinstance(error, Abandoned)
        metrics.DOWNLOADS.labels(
            "abandoned" if abandoned else "failed", "" if abandoned else type(error).__name__
        ).inc()
        if isinstance(error, Abandoned):
            log.info("download %s: %s", self.name, error)
        else:
            log.warning("download %s failed: %s", self.name, error)

    def _stream_resuming(self) -> None:
        """Stream the whole archive into the spool, resuming broken streams within the bound;
        a request Box refuses for its size is split and joined instead (unless split is off)."""
        try:
            self._stream_whole()
        except LimitExceeded as exc:
            if not self.spec.split or self.spool.length:
                raise
            log.info("download %s: %s; listing it to split it into parts", self.name, exc)
            self._stream_split()

    def _resumable(self) -> bool:
        return self.spec.resume and self.resumes < self._settings.resume_attempts and not self._stop.is_set()

    def _note_resume(self, exc: BoxZipError, at: int) -> None:
        with self._lock:
            self.resumes += 1
            self.resume_reasons.append(str(exc))
        metrics.RESUMES.inc()
        log.info(
            "download %s: %s at %d bytes; resuming (%d of %d)",
            self.name, exc, at, self.resumes, self._settings.resume_attempts,
        )  # fmt: skip

    def _stream_whole(self) -> None:
        while True:
            self._slots.acquire(self)
            try:
                stream = self._open_stream(self.spec.request, resuming=self.spool.length > 0)
                with stream:
                    socket = _LastRead(stream)
                    self._pump(self.extract(socket) if self.extract else socket, socket.was_short)
                if self.extract is None and not self.spool.has_zip_trailer():
                    raise StreamBroken(
                        "the stream ended before the zip's end record: the archive is truncated"
                    )
                return
            except StreamBroken as exc:
                if not self._resumable():
                    if self.resumes:
                        raise StreamBroken(f"{exc} (after {self.resumes} resumes)") from None
                    raise
                self._note_resume(exc, self.spool.length)
            finally:
                self._slots.release(self)

    def _stream_split(self) -> None:
        """List the request, then stream its parts one after another into one archive."""
        with self._lock:
            self.phase = Phase.LISTING
        plan = plan_request(self.spec.request, self._client.list_folder)
        progress = SplitProgress()
        with self._lock:
            self.split = progress
        joiner = Joiner(plan, self._open_part, progress)
        self._pump(joiner.chunks(self._settings.buffer_size), lambda: True)
        log.info("download %s: joined %d parts", self.name, progress.parts_done)

    def _open_part(self, request: ZipRequest) -> tuple[ZipDownload, Iterator[bytes]]:
        """Queue for a slot and create one part; its bytes hold the slot until they end."""
        self._slots.acquire(self)
        try:
            stream = self._open_stream(request)
        except BaseException:
            self._slots.release(self)
            raise
        assert self.zip_download is not None
        return self.zip_download, self._part_bytes(request, stream)

    def _part_bytes(self, request: ZipRequest, stream: ContentStream) -> Iterator[bytes]:
        """A part's raw bytes, resumed like a whole archive: a new create whose first bytes must
        hash the same as those already passed on (they are not kept, so a digest stands in)."""
        passed, digest = 0, hashlib.sha256()
        try:
            while True:
                try:
                    with stream:
                        skip, check = passed, hashlib.sha256()
                        for whole in stream:
                            chunk = whole
                            if skip:
                                head = chunk[:skip]
                                check.update(head)
                                skip -= len(head)
                                chunk = chunk[len(head) :]
                                if not skip and check.digest() != digest.copy().digest():
                                    raise ArchiveChanged(
                                        f"a resumed part differs within its first {passed} bytes: "
                                        "the content changed on Box, so nothing is spliced"
                                    )
                                if not skip:
                                    with self._lock:
                                        self.phase = Phase.STREAMING
                                if not chunk:
                                    continue
                            digest.update(chunk)
                            passed += len(chunk)
                            yield chunk
                        if skip:
                            raise ArchiveChanged("a resumed part ended before the bytes already received")
                    return
                except StreamBroken as exc:
                    if not self._resumable():
                        raise
                    self._note_resume(exc, passed)
                    self._slots.release(self)
                    self._slots.acquire(self)
                    stream = self._open_stream(request, resuming=True)
        finally:
            self._slots.release(self)

    def _open_stream(self, request: ZipRequest, resuming: bool = False) -> ContentStream:
        """Create the zip download and GET its URL, waiting out 429s until the deadline.

        The one place that decides how a download waits for Box: the client hands
        every 429 here, and status.json shows the wait and Box's code.
        """
        deadline = time.monotonic() + self._settings.queue_deadline
        while True:
            if self._stop.is_set():
                raise Cancelled("cancelled")
            with self._lock:
                self.phase, self.retry_at = Phase.CREATING, None
            creating = time.monotonic()
            try:
                download = self._client.create_zip_download(request)
                with self._lock:
                    self.zip_download, self.box_status, self._polled_at = download, None, 0.0
                stream = self._client.open_content(download)
            except TooManyRequests as exc:
                metrics.BOX_429.inc()
                self._wait_out(exc, deadline)
                continue
            metrics.TTFB.observe(time.monotonic() - creating)
            with self._lock:
                self.phase = Phase.RESUMING if resuming else Phase.STREAMING
                if self.stream_started is None:
                    self.stream_started = time.monotonic()
                    self.started_at = _now_iso()
            log.debug("download %s: streaming", self.name)
            self.started.set()
            return stream

    def _wait_out(self, exc: TooManyRequests, deadline: float) -> None:
        """Wait for Box's Retry-After (else the default) or raise QueueTimeout past the deadline."""
        wait = exc.retry_after if exc.retry_after is not None else self._settings.default_retry_after
        with self._lock:
            count = (self.throttled or {}).get("count", 0) + 1
            self.throttled = {"status": exc.status, "code": exc.code, "count": count}
        if time.monotonic() + wait > deadline:
            raise QueueTimeout(
                f"Box still answered 429 {exc.code} ({count} times) and waiting {wait:g}s more would pass "
                f"the queue deadline ({self._settings.queue_deadline:g}s)"
            ) from exc
        with self._lock:
            self.phase, self.retry_at = Phase.THROTTLED, time.monotonic() + wait
        log.info("download %s: Box answered 429 %s; creating anew in %.1fs", self.name, exc.code, wait)
        if self._stop.wait(wait):
            raise Cancelled("cancelled") from None

    def _pump(self, source: Iterable[bytes], flush_now: Callable[[], bool]) -> None:
        """Socket -> spool on this one thread: chunks are gathered and written with one
        vectored write once ``buffer_size`` bytes are in, or as soon as a socket read comes
        back short (nothing more was waiting: a slow stream's bytes never sit in memory
        while the socket is idle); readers waiting for those bytes then wake.

        One thread and large batches: no hand-off per chunk, one wake-up per batch.
        """
        batch: list[bytes] = []
        gathered = 0
        limit = self._settings.buffer_size
        matched, known = 0, self.spool.length  # a resumed stream first re-reads what is spooled
        try:
            for whole in source:
                chunk = whole
                if matched < known:
                    same = chunk[: known - matched]
                    if self.spool.pread(matched, len(same)) != same:
                        raise ArchiveChanged(
                            f"the resumed stream differs from the first within bytes {matched}-"
                            f"{matched + len(same)}: the content changed on Box, so nothing is spliced"
                        )
                    matched += len(same)
                    chunk = chunk[len(same) :]
                    if matched == known:
                        with self._lock:
                            self.phase = Phase.STREAMING
                        log.info("download %s: %d bytes re-read and identical; going on", self.name, known)
                    if not chunk:
                        continue
                batch.append(chunk)
                gathered += len(chunk)
                if gathered >= limit or flush_now():
                    self._write(batch)
                    batch, gathered = [], 0
                    if self._stop.is_set():
                        raise Cancelled("cancelled")
            self._write(batch)
            if matched < known:
                raise ArchiveChanged(
                    f"the resumed archive ended at {matched} bytes, before the {known} already received: "
                    "the content changed on Box, so nothing is spliced"
                )
        finally:
            with self._lock:
                self.stream_ended = time.monotonic()
            log.debug("download %s: stream ended after %d bytes", self.name, self.received)

    def _write(self, batch: list[bytes]) -> None:
        before = self.spool.length
        self.spool.append(batch)
        with self._lock:
            self.received = self.spool.length
        metrics.BYTES_DELIVERED.inc(self.received - before)

    def _check_end(self) -> None:
        """Refuse an archive that failed on Box's side or has unallowed skips (its end record
        and an extracted file's whole bytes were checked while streaming).

        An extracted file needs no status: its one entry arrived whole, CRC and size
        checked, and a skip would have left no entry. Not asking saves each browse
        file a status call and Box's "in_progress" just after the end.
        """
        if self.extract is not None or self.split is not None:
            return  # a split's parts were counted file by file
        status = self._final_status()
        if status is None:
            if not self.spec.allow_skips:
                raise ArchiveIncomplete("could not read Box's final status, so skips cannot be ruled out")
            return
        if status.state == "failed":
            raise ArchiveIncomplete("Box reports this zip download as failed")
        if status.skipped and not self.spec.allow_skips:
            raise ArchiveIncomplete(
                f"Box skipped {status.skipped_file_count} files and {status.skipped_folder_count} "
                "folders (set allow_skips to accept that)"
            )

    def _final_status(self) -> ZipStatus | None:
        deadline = time.monotonic() + self._settings.final_status_wait
        status: ZipStatus | None = None
        while True:
            status = self.poll_status(force=True) or status
            if status is not None and status.state != "in_progress":
                return status
            if time.monotonic() >= deadline:
                return status
            time.sleep(0.1)

    # -- status ------------------------------------------------------------------

    def poll_status(self, force: bool = False) -> ZipStatus | None:
        """Box's status, fetched at most once per interval (404 before the start is not an error)."""
        with self._lock:
            download = self.zip_download
            fresh = time.monotonic() - self._polled_at < self._settings.status_interval
            if download is None or self.stream_started is None or (fresh and not force):
                return self.box_status
            self._polled_at = time.monotonic()
        try:
            status = self._client.get_status(download)
        except NotFound:
            return self.box_status
        except (BoxAPIError, NetworkError) as exc:
            log.info("download %s: status not available: %s", self.name, exc)
            return self.box_status
        with self._lock:
            self.box_status = status
        return status

    def snapshot(self, queue_position: int | None) -> dict[str, Any]:
        """The local half of status.json."""
        with self._lock:
            now = time.monotonic()
            elapsed = None
            if self.stream_started is not None:
                elapsed = (self.stream_ended or now) - self.stream_started
            download = self.zip_download
            return {
                "phase": str(self.phase),
                "queue_position": queue_position,
                "retry_in_seconds": None
                if self.retry_at is None or self.phase is not Phase.THROTTLED
                else round(max(0.0, self.retry_at - now), 1),
                "throttled": dict(self.throttled) if self.throttled else None,
                "resumes": self.resumes,
                "split": self.split.to_json() if self.split else None,
                "resume_reasons": list(self.resume_reasons),
                "bytes_delivered": self.received,
                "bytes_read": self.served,
                "archive_size": self.received if self.phase is Phase.SUCCEEDED else None,
                "throughput_bytes_per_second": round(self.received / elapsed) if elapsed else None,
                "queued_at": self.queued_at,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "expires_at": download.expires_at if download else None,
                "name_conflicts": [[side.to_json() for side in pair] for pair in download.name_conflicts]
                if download
                else [],
            }

"""ArchiveDownload: one Box zip download of one request, fetched exactly once.

Life: wait for a download slot (queued) -> create the zip download and GET its
one-shot URL (creating; 429s are waited out by :mod:`~boxzipfs.download.waiting`)
-> stream into the spool (streaming, :mod:`~boxzipfs.download.pump`) -> check that
the archive ends with a zip end record and read Box's final status (succeeded, or
failed with the reason).

A stream that breaks (reset, stall past the read timeout, an end without the
zip end record) is resumed, up to ``resume_attempts`` times, each waiting for a
slot like any download: a new create of the same request whose first bytes are
checked against those received (:mod:`~boxzipfs.download.verify`) and never
stored twice. One differing byte fails the download (ArchiveChanged): an archive
spliced from two versions is impossible. A request Box refuses for its size is
split into parts and joined (:mod:`~boxzipfs.download.split`). Readers share the
spool; the state is one record (:mod:`~boxzipfs.download.state`) that status.json
renders. ``cancel`` stops it at any point (abandoned, or shutdown).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from boxzipfs import logfields, metrics
from boxzipfs.download.api import ZipApi
from boxzipfs.download.pump import pump
from boxzipfs.download.slots import SlotQueue
from boxzipfs.download.split import Joiner, SplitProgress, plan_request
from boxzipfs.download.spool import Spool
from boxzipfs.download.state import DownloadState, Phase, StateRecord
from boxzipfs.download.unpack import Extract
from boxzipfs.download.verify import DigestPrefix, SpoolPrefix, resumed
from boxzipfs.download.waiting import StreamOpener, WaitPolicy
from boxzipfs.download.zipcheck import TAIL_NEEDED, ends_with_end_record
from boxzipfs.errors import (
    Abandoned,
    ArchiveIncomplete,
    BoxAPIError,
    BoxZipError,
    Cancelled,
    LimitExceeded,
    NetworkError,
    NotFound,
    ShuttingDown,
    StreamBroken,
    again,
)
from boxzipfs.models import RequestSpec, ZipDownload, ZipRequest, ZipStatus
from boxzipfs.options import default

log = logging.getLogger(__name__)
_IDS = itertools.count(1)

__all__ = ["ArchiveDownload", "DownloadSettings", "Phase"]


@dataclass(frozen=True)
class DownloadSettings:
    buffer_size: int = default("buffer_size")  # bytes gathered from the socket per spool write
    queue_deadline: float = default("queue_deadline")
    status_interval: float = 1.0
    final_status_wait: float = 10.0
    default_retry_after: float = 2.0
    resume_attempts: int = default("resume_attempts")


class ArchiveDownload:
    """One archive streamed once into a spool, shared by its readers."""

    def __init__(
        self,
        name: str,
        spec: RequestSpec,
        api: ZipApi,
        slots: SlotQueue,
        spool_path: Path,
        settings: DownloadSettings,
        recycle: Callable[[Path], None] | None = None,
        extract: Extract | None = None,
        on_progress: Callable[[ArchiveDownload], None] | None = None,
    ) -> None:
        self.name = name
        self.id = f"d{next(_IDS)}"  # this process's number for it (log lines, the state dump)
        self._born = time.perf_counter()  # the open that started it: the steps to its first byte are timed
        self._traced: set[str] = set()
        self.spec = spec
        self.extract = extract  # the spool then holds the one file unpacked, not the archive
        self.spool = Spool(spool_path, recycle)
        self.state = StateRecord()
        self._api = api
        self._slots = slots
        self._settings = settings
        self._on_progress = on_progress  # after each spool write and at the end (the cache budget)
        self._stop = threading.Event()
        self._stop_reason: BoxZipError = ShuttingDown("the mount is shutting down")
        self._poll_lock = threading.Lock()  # one status poll at a time
        policy = WaitPolicy(settings.queue_deadline, settings.default_retry_after)
        self._opener = StreamOpener(name, api, self.state, policy, self._stop, self.trace)
        self.started = threading.Event()  # set once streaming began or the download failed
        self._thread = threading.Thread(target=self._run, name=f"download-{name}", daemon=True)

    # -- what others see -------------------------------------------------------------

    def snapshot(self) -> DownloadState:
        return self.state.snapshot()

    @property
    def phase(self) -> Phase:
        return self.state.snapshot().phase

    @property
    def done(self) -> bool:
        return self.state.snapshot().done

    @property
    def complete(self) -> bool:
        return self.spool.complete

    def attributes(self) -> tuple[int, int]:
        """(size, mtime in ns) of this archive: exact size and completion time once complete,
        else 0 and the time it was created (a new archive gets a new time)."""
        state = self.state.snapshot()
        if self.spool.complete:
            return self.spool.length, state.finished_ns or state.created_ns
        return 0, state.created_ns

    def wait_started(self) -> None:
        """Block until bytes can flow, then raise the download's error if it failed first."""
        self.started.wait()
        state = self.state.snapshot()
        if state.phase is Phase.FAILED and state.error is not None:
            raise again(state.error)

    def wait_done(self) -> int:
        """Block until the archive is complete (its size) or failed (raises why)."""
        return self.spool.wait_done()

    def trace(self, step: str) -> None:
        """At -v, each step from the open to the first byte served, once, in ms since the open
        (where the time to first byte goes)."""
        if step in self._traced or not log.isEnabledFor(logging.DEBUG):
            return
        self._traced.add(step)
        log.debug("download %s: %s at +%.2f ms", self.name, step, (time.perf_counter() - self._born) * 1000)

    def read(self, offset: int, size: int) -> bytes:
        data = self.spool.read(offset, size)
        self._served(len(data))
        return data

    def read_into(self, offset: int, into: memoryview) -> int:
        count = self.spool.read_into(offset, into)
        self._served(count)
        return count

    def _served(self, count: int) -> None:
        if "first bytes served" not in self._traced:
            self.trace("first bytes served")
        self.state.add_served(count)
        metrics.BYTES_READ.inc(count)

    # -- control -----------------------------------------------------------------------

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

    # -- the download thread ----------------------------------------------------------

    def _run(self) -> None:
        logfields.bind(logfields.DownloadFields(self.name, self.id, lambda: self.phase.value))
        self.trace("thread running")
        try:
            self.spool.open()
            self._stream_or_split()
            self._check_end()
        except Cancelled:
            self._fail(self._stop_reason)
        except BoxZipError as exc:
            self._fail(exc)
        except Exception as exc:
            log.exception("download %s failed unexpectedly", self.name)
            self._fail(BoxZipError(f"internal error: {type(exc).__name__}"))
        else:
            self.state.finish(Phase.SUCCEEDED)
            self.spool.finish()
            metrics.DOWNLOADS.labels("succeeded", "").inc()
            log.info("download %s succeeded: %d bytes", self.name, self.spool.length)
        finally:
            self._slots.forget(self)  # a cancel that came while it waited
            self.started.set()
            if self._on_progress is not None:
                self._on_progress(self)

    def _fail(self, error: BoxZipError) -> None:
        quiet = isinstance(error, Abandoned | ShuttingDown)
        self.state.finish(Phase.ABANDONED if isinstance(error, Abandoned) else Phase.FAILED, error)
        self.spool.fail(error)
        abandoned = isinstance(error, Abandoned)
        metrics.DOWNLOADS.labels(
            "abandoned" if abandoned else "failed", "" if abandoned else type(error).__name__
        ).inc()
        if quiet:
            log.info("download %s: %s", self.name, error)
        else:
            log.warning("download %s failed: %s", self.name, error)

    def _stream_or_split(self) -> None:
        """The whole archive, resumed within the bound; a request Box refuses for its size is
        split and joined instead (unless split is off)."""
        try:
            self._stream_whole()
        except LimitExceeded as exc:
            if not self.spec.split or self.spool.length:
                raise
            log.info("download %s: %s; listing it to split it into parts", self.name, exc)
            self._stream_split()

    def _resume_or_raise(self, exc: StreamBroken, at: int) -> None:
        """Count a resume, or re-raise ``exc`` when none is left."""
        state = self.state.snapshot()
        if not self.spec.resume or state.resumes >= self._settings.resume_attempts or self._stop.is_set():
            if state.resumes:
                raise StreamBroken(f"{exc} (after {state.resumes} resumes)") from exc
            raise exc
        self.state.update(resumes=state.resumes + 1, resume_reasons=(*state.resume_reasons, str(exc)))
        metrics.RESUMES.inc()
        log.info(
            "download %s: %s at %d bytes; resuming (%d of %d)",
            self.name, exc, at, state.resumes + 1, self._settings.resume_attempts,
        )  # fmt: skip

    def _caught_up(self) -> None:
        if self.state.snapshot().phase is Phase.RESUMING:
            self.state.update(phase=Phase.STREAMING)
            log.info("download %s: bytes already received re-read and identical; going on", self.name)

    def _stream_whole(self) -> None:
        while True:
            known = SpoolPrefix(self.spool.length, self.spool.pread)
            try:
                with self._slots.slot(self):
                    self.trace("slot held")
                    content = self._opener.open(self.spec.request, resuming=known.length > 0)
                    self.started.set()
                    with content:
                        # The spool holds what a reader reads (a browse file: unpacked), so
                        # that is what a resumed stream is checked against.
                        delivered = self.extract(content) if self.extract else content
                        self._pump(resumed(delivered, known, self._caught_up), content.idle)
                if self.extract is None and not ends_with_end_record(self.spool.tail(TAIL_NEEDED)):
                    raise StreamBroken(
                        "the stream ended before the zip's end record: the archive is truncated"
                    )
                return
            except StreamBroken as exc:
                self._resume_or_raise(exc, self.spool.length)

    def _stream_split(self) -> None:
        """List the request, then stream its parts one after another into one archive."""
        self.state.update(phase=Phase.LISTING)
        plan = plan_request(self.spec.request, self._api.list_folder)
        progress = SplitProgress()
        self.state.update(split=progress)
        joiner = Joiner(plan, self._open_part, progress)
        self._pump(joiner.chunks(self._settings.buffer_size), lambda: True)
        log.info("download %s: joined %d parts", self.name, progress.parts_done)

    def _open_part(self, request: ZipRequest) -> tuple[ZipDownload, Iterator[bytes]]:
        """Create one part (LimitExceeded here lets the joiner halve it); its bytes follow."""
        part = self._part_bytes(request)
        next(part)  # runs up to the part's first create: its errors are raised here
        zip_download = self.state.snapshot().zip_download
        assert zip_download is not None
        return zip_download, part

    def _part_bytes(self, request: ZipRequest) -> Iterator[bytes]:
        """A part's raw bytes (first an empty primer), each stream holding a slot while it
        runs; a broken one is resumed like a whole archive, checked against a digest of the
        bytes already passed on (they are not kept)."""
        passed = DigestPrefix()
        resuming = False
        primed = False
        while True:
            try:
                with self._slots.slot(self):
                    content = self._opener.open(request, resuming)
                    self.started.set()
                    if not primed:
                        primed = True
                        yield b""
                    with content:
                        for chunk in resumed(content, passed, self._caught_up):
                            passed.record(chunk)
                            yield chunk
                return
            except StreamBroken as exc:
                self._resume_or_raise(exc, passed.length)
                resuming = True

    def _pump(self, source: Iterable[bytes], idle: Callable[[], bool]) -> None:
        try:
            pump(source, self.spool, self._settings.buffer_size, idle, self._stop.is_set, self._delivered)
        finally:
            self.state.update(stream_ended=time.monotonic())
            log.debug("download %s: stream ended after %d bytes", self.name, self.spool.length)

    def _delivered(self, total: int) -> None:
        self.trace("first bytes spooled")
        before = self.state.snapshot().received
        self.state.update(received=total)
        metrics.BYTES_DELIVERED.inc(total - before)
        if self._on_progress is not None:
            self._on_progress(self)

    def _check_end(self) -> None:
        """Refuse an archive that failed on Box's side or has unallowed skips (its end record
        and an extracted file's whole bytes were checked while streaming).

        An extracted file needs no status: its one entry arrived whole, CRC and size
        checked, and a skip would have left no entry. Not asking saves each browse
        file a status call and Box's "in_progress" just after the end.
        """
        if self.extract is not None or self.state.snapshot().split is not None:
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
            if self._stop.wait(0.1):
                raise Cancelled("cancelled while reading Box's final status")

    # -- Box's status ------------------------------------------------------------------

    def poll_status(self, force: bool = False) -> ZipStatus | None:
        """Box's status, fetched at most once per interval (404 before the start is not an error)."""
        with self._poll_lock:
            state = self.state.snapshot()
            fresh = time.monotonic() - state.polled_at < self._settings.status_interval
            if state.zip_download is None or state.stream_started is None or (fresh and not force):
                return state.box_status
            self.state.update(polled_at=time.monotonic())
            try:
                status = self._api.get_status(state.zip_download)
            except NotFound:
                return state.box_status
            except (BoxAPIError, NetworkError) as exc:
                log.info("download %s: status not available: %s", self.name, exc)
                return state.box_status
            self.state.update(box_status=status)
            return status

"""One download's state as one record: what status.json, the manager and the metrics read.

The download thread changes it through ``update`` (under the record's lock); every
reader takes a ``snapshot``, a consistent copy, so nothing reads half an update.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from boxzipfs.download.split import SplitProgress
from boxzipfs.errors import BoxZipError
from boxzipfs.models import ZipDownload, ZipStatus


class Phase(StrEnum):
    QUEUED = "queued"
    CREATING = "creating"
    THROTTLED = "throttled"  # waiting out Box's 429 before creating anew
    STREAMING = "streaming"
    RESUMING = "resuming"  # re-reading a new stream's first bytes against those received
    LISTING = "listing"  # past Box's limits: listing the request's folders to split it
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"  # every reader left early; stopped, slot and spool freed


FINAL = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.ABANDONED})


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class DownloadState:
    """Everything known about one download at one moment (monotonic times are for spans)."""

    phase: Phase = Phase.QUEUED
    error: BoxZipError | None = None
    zip_download: ZipDownload | None = None  # the current create's answer (never shown whole)
    box_status: ZipStatus | None = None  # Box's last status answer
    polled_at: float = 0.0
    received: int = 0  # bytes in the spool
    served: int = 0  # bytes handed to readers
    resumes: int = 0
    resume_reasons: tuple[str, ...] = ()
    split: SplitProgress | None = None  # counted by the joiner as parts arrive
    throttled: dict[str, Any] | None = None  # Box's last 429: status, code, count
    retry_at: float | None = None  # monotonic: when a throttled download creates anew
    queued_at: str = field(default_factory=now_iso)
    created_ns: int = field(default_factory=time.time_ns)
    started_at: str | None = None
    stream_started: float | None = None
    stream_ended: float | None = None
    finished_at: str | None = None
    finished_monotonic: float | None = None
    finished_ns: int | None = None

    @property
    def done(self) -> bool:
        return self.phase in FINAL


class StateRecord:
    """The one mutable holder of a download's state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _state: each update replaces it whole
        self._state = DownloadState()

    def snapshot(self) -> DownloadState:
        with self._lock:
            return self._state

    def update(self, **changes: Any) -> DownloadState:
        with self._lock:
            self._state = replace(self._state, **changes)
            return self._state

    def add_served(self, count: int) -> None:
        with self._lock:
            self._state = replace(self._state, served=self._state.served + count)

    def finish(self, phase: Phase, error: BoxZipError | None = None) -> DownloadState:
        """The final phase and its times (the stream's end too, if it was still running)."""
        with self._lock:
            state = self._state
            ended = state.stream_ended
            if state.stream_started is not None and ended is None:
                ended = time.monotonic()
            self._state = replace(
                state,
                phase=phase,
                error=error,
                stream_ended=ended,
                finished_at=now_iso(),
                finished_monotonic=time.monotonic(),
                finished_ns=time.time_ns(),
            )
            return self._state

"""How a download waits for Box: the one place that decides it.

A create and its content GET are tried until the content answers; a 429 from
either (Box's concurrency limits answer at the GET) waits for Box's Retry-After,
else the default, then creates anew, until the queue deadline. Each wait shows in
the download's state (phase ``throttled``, Box's code, the count, when it retries).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from boxzipfs import metrics
from boxzipfs.download.api import Content, ZipApi
from boxzipfs.download.state import Phase, StateRecord, now_iso
from boxzipfs.errors import Cancelled, QueueTimeout, TooManyRequests
from boxzipfs.models import ZipRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WaitPolicy:
    queue_deadline: float
    default_retry_after: float


class StreamOpener:
    """Creates zip downloads and opens their content for one download, waiting out 429s."""

    def __init__(
        self,
        name: str,
        api: ZipApi,
        state: StateRecord,
        policy: WaitPolicy,
        stop: threading.Event,
        trace: Callable[[str], None] = lambda step: None,
    ) -> None:
        self._trace = trace
        self._name = name
        self._api = api
        self._state = state
        self._policy = policy
        self._stop = stop

    def open(self, request: ZipRequest, resuming: bool = False) -> Content:
        """Create the zip download and GET its URL; its content, streaming."""
        deadline = time.monotonic() + self._policy.queue_deadline
        while True:
            if self._stop.is_set():
                raise Cancelled("cancelled")
            self._state.update(phase=Phase.CREATING, retry_at=None)
            creating = time.monotonic()
            try:
                download = self._api.create_zip_download(request)
                self._trace("created")
                self._state.update(zip_download=download, box_status=None, polled_at=0.0)
                content = self._api.open_content(download, self._stop.is_set)
                self._trace("content answered")
            except TooManyRequests as exc:
                metrics.BOX_429.inc()
                self._wait_out(exc, deadline)
                continue
            metrics.TTFB.observe(time.monotonic() - creating)
            state = self._state.snapshot()
            first = state.stream_started is None
            self._state.update(
                phase=Phase.RESUMING if resuming else Phase.STREAMING,
                stream_started=time.monotonic() if first else state.stream_started,
                started_at=now_iso() if first else state.started_at,
            )
            log.debug("download %s: streaming", self._name)
            return content

    def _wait_out(self, exc: TooManyRequests, deadline: float) -> None:
        """Wait for Box's Retry-After (else the default) or raise QueueTimeout past the deadline."""
        wait = exc.retry_after if exc.retry_after is not None else self._policy.default_retry_after
        count = (self._state.snapshot().throttled or {}).get("count", 0) + 1
        self._state.update(throttled={"status": exc.status, "code": exc.code, "count": count})
        if time.monotonic() + wait > deadline:
            raise QueueTimeout(
                f"Box still answered 429 {exc.code} ({count} times) and waiting {wait:g}s more would pass "
                f"the queue deadline ({self._policy.queue_deadline:g}s)"
            ) from exc
        self._state.update(phase=Phase.THROTTLED, retry_at=time.monotonic() + wait)
        log.info("download %s: Box answered 429 %s; creating anew in %.1fs", self._name, exc.code, wait)
        if self._stop.wait(wait):
            raise Cancelled("cancelled") from None

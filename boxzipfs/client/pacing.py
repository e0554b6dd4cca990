"""Pacing the mount's Box API calls under a budget, rather than bouncing off Box's limit.

Box allows about 1,000 API calls per minute per user and answers ``429
rate_limit_exceeded`` past it (and a Business plan's monthly budget is spent by
every call). Every API call (creates, status polls, listings, credential checks)
first takes a place here: at most ``per_minute`` in any minute, spread out at
``per_minute / 60`` a second so a bulk walk never bursts. The ``limits`` library
keeps the moving windows: in memory for one mount, in Redis for a fleet, whose
hosts then share one budget per user. Content GETs are not API calls (Box's
content host is not limited by it) and are never paced.

If the fleet's Redis fails, pacing goes on in memory for this host (logged), and the
fleet's budget is tried again REJOIN_SECONDS later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from boxzipfs import metrics

log = logging.getLogger(__name__)
REJOIN_SECONDS = 10.0  # after the fleet's Redis failed, try it again this much later


class ApiPacer:
    """Waits before each API call until the budget has room for it."""

    def __init__(
        self,
        per_minute: int,
        key: str = "mount",
        storage_url: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute < 1:
            raise ValueError("the API budget needs at least one call per minute")
        self.per_minute = per_minute
        self._items: tuple[RateLimitItem, ...] = (
            parse(f"{per_minute}/minute"),
            parse(f"{max(1, per_minute // 60)}/second"),
        )
        self._key = f"boxzipfs:api:{key}"
        self._sleep = sleep
        storage = storage_from_string(storage_url) if storage_url else MemoryStorage()
        if not isinstance(storage, Storage):
            raise ValueError(f"{storage_url}: not a storage for synchronous code")
        self._own = MovingWindowRateLimiter(MemoryStorage())  # this host alone, when it must
        self._fleet = MovingWindowRateLimiter(storage) if storage_url else None
        self._limiter = self._fleet or self._own
        self._shared = self._fleet is not None
        self._retry_at = 0.0  # when to try the fleet's budget again after it failed
        self._lock = threading.Lock()  # guards calls, waited, _limiter, _shared and _retry_at
        self.calls: Counter[str] = Counter()
        self.waited = 0.0

    def wait(self, endpoint: str) -> float:
        """Take a place for one call to ``endpoint``; the seconds waited for it."""
        waited = 0.0
        self._maybe_rejoin()
        while True:
            try:
                if all(self._limiter.test(item, self._key) for item in self._items) and all(
                    self._limiter.hit(item, self._key) for item in self._items
                ):
                    break
                resets = [self._limiter.get_window_stats(item, self._key).reset_time for item in self._items]
            except Exception as exc:  # the fleet's Redis: go on alone rather than stop every call
                self._fall_back(exc)
                continue
            pause = min(max(min(resets) - time.time(), 0.005), 1.0)
            self._sleep(pause)
            waited += pause
        with self._lock:
            self.calls[endpoint] += 1
            self.waited += waited
        metrics.API_CALLS.labels(endpoint).inc()
        if waited:
            metrics.API_PACING_SECONDS.inc(waited)
        return waited

    def _maybe_rejoin(self) -> None:
        with self._lock:
            if self._fleet is None or self._shared or time.monotonic() < self._retry_at:
                return
            self._limiter, self._shared = self._fleet, True
        log.info("API pacing: sharing the fleet's budget again")

    def _fall_back(self, exc: Exception) -> None:
        with self._lock:
            if not self._shared:
                raise exc
            self._shared = False
            self._limiter = self._own
            self._retry_at = time.monotonic() + REJOIN_SECONDS
        log.warning(
            "API pacing: the shared budget is unreachable (%s); pacing this host alone", type(exc).__name__
        )

    def snapshot(self) -> dict[str, object]:
        """Calls by endpoint and seconds waited, for status and the metrics."""
        with self._lock:
            return {
                "per_minute": self.per_minute,
                "calls": dict(sorted(self.calls.items())),
                "seconds_waited": round(self.waited, 1),
                "shared": self._shared,
            }

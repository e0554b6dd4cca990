"""A FIFO queue of download slots: at most N content downloads at once per mount
(Box allows 5 per user), later arrivals wait in order and can see their place."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from boxzipfs.errors import Cancelled

__all__ = ["Cancelled", "SlotQueue"]


class SlotQueue:
    """A counting semaphore that serves waiters strictly in arrival order."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("at least one download slot is needed")
        self.slots = slots
        # Guards _waiting, _holders, _cancelled and _closed; waiters wait on it.
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()
        self._holders: set[object] = set()
        self._cancelled: set[object] = set()
        self._closed = False

    def position(self, ticket: object) -> int | None:
        """1-based place of ``ticket`` among the waiters, None if it is not waiting."""
        with self._cond:
            try:
                return self._waiting.index(ticket) + 1
            except ValueError:
                return None

    @property
    def in_use(self) -> int:
        with self._cond:
            return len(self._holders)

    def acquire(self, ticket: object) -> None:
        """Wait for a slot in arrival order; Cancelled if closed or ``cancel(ticket)`` was called."""
        with self._cond:
            if ticket in self._cancelled:
                raise Cancelled("the download was cancelled")
            self._waiting.append(ticket)
            try:
                self._cond.wait_for(
                    lambda: (
                        self._closed
                        or ticket in self._cancelled
                        or (self._waiting[0] is ticket and len(self._holders) < self.slots)
                    )
                )
                if self._closed or ticket in self._cancelled:
                    raise Cancelled("the download was cancelled")
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()
            self._holders.add(ticket)

    def cancelled(self, ticket: object) -> bool:
        """Whether ``ticket``'s wait must end (cancelled, or the queue closed)."""
        with self._cond:
            return self._closed or ticket in self._cancelled

    def cancel(self, ticket: object) -> None:
        """Make ``ticket``'s wait (now or later) end in Cancelled; a held slot stays until released."""
        with self._cond:
            self._cancelled.add(ticket)
            self._cond.notify_all()

    def release(self, ticket: object) -> None:
        with self._cond:
            self._holders.discard(ticket)
            self._cancelled.discard(ticket)
            self._cond.notify_all()

    def forget(self, ticket: object) -> None:
        """``ticket``'s download ended: drop its cancel mark and any slot it still held."""
        self.release(ticket)

    @contextmanager
    def slot(self, ticket: object) -> Iterator[None]:
        """A slot held for the ``with`` block: the only way the download layer holds one."""
        self.acquire(ticket)
        try:
            yield
        finally:
            self.release(ticket)

    def close(self) -> None:
        """Wake every waiter with Cancelled."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

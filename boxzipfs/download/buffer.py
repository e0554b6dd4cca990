"""ByteBuffer: the bounded buffer between an HTTP stream and the disk spool.

The network thread appends what each socket read returns; the spool thread takes
everything gathered so far in one piece and writes it. Bytes in memory never
exceed ``capacity`` (plus the piece being written), and a slow disk write does
not stall the socket until the buffer is full. Batching keeps the cost per
socket read to one memcpy and a lock.
"""

from __future__ import annotations

import threading


class BufferClosed(Exception):
    """The consumer is gone; the producer must stop."""


class ByteBuffer:
    """A single-producer, single-consumer byte queue bounded by ``capacity``."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._data = bytearray()
        self._cond = threading.Condition()
        self._ended = False
        self._aborted = False
        self.high_water = 0

    def put(self, chunk: bytes) -> None:
        """Append ``chunk``, waiting while the buffer is full; raises BufferClosed if aborted."""
        with self._cond:
            self._cond.wait_for(lambda: self._aborted or len(self._data) < self.capacity)
            if self._aborted:
                raise BufferClosed("the spool writer stopped")
            self._data += chunk
            self.high_water = max(self.high_water, len(self._data))
            self._cond.notify_all()

    def end(self) -> None:
        """No more bytes will come."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Drop everything and make the producer's next put fail."""
        with self._cond:
            self._aborted = True
            self._data = bytearray()
            self._cond.notify_all()

    def take(self) -> bytearray | None:
        """Everything buffered so far (waits for some); None once ended and drained."""
        with self._cond:
            self._cond.wait_for(lambda: self._aborted or self._ended or len(self._data) > 0)
            if self._aborted or not self._data:
                return None
            data, self._data = self._data, bytearray()
            self._cond.notify_all()
            return data

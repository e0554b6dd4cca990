"""ByteBuffer: the bounded buffer between an HTTP stream and the disk spool.

The network thread adds what each socket read returns; the spool thread takes
everything gathered so far and writes it with one vectored write. Bytes in
memory never exceed ``capacity`` (plus the batch being written), and a slow disk
write does not stall the socket until the buffer is full. Chunks are kept as
they came (no copy); batching keeps the cost per socket read to a lock.
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
        self._chunks: list[bytes] = []
        self._size = 0
        self._cond = threading.Condition()
        self._ended = False
        self._aborted = False
        self.high_water = 0

    def put(self, chunk: bytes) -> None:
        """Append ``chunk``, waiting while the buffer is full; raises BufferClosed if aborted."""
        with self._cond:
            self._cond.wait_for(lambda: self._aborted or self._size < self.capacity)
            if self._aborted:
                raise BufferClosed("the spool writer stopped")
            self._chunks.append(chunk)
            self._size += len(chunk)
            self.high_water = max(self.high_water, self._size)
            self._cond.notify()

    def end(self) -> None:
        """No more bytes will come."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Drop everything and make the producer's next put fail."""
        with self._cond:
            self._aborted = True
            self._chunks, self._size = [], 0
            self._cond.notify_all()

    def take(self) -> list[bytes] | None:
        """Every chunk buffered so far (waits for some); None once ended and drained."""
        with self._cond:
            self._cond.wait_for(lambda: self._aborted or self._ended or self._size > 0)
            if self._aborted or not self._chunks:
                return None
            chunks, self._chunks, self._size = self._chunks, [], 0
            self._cond.notify_all()
            return chunks

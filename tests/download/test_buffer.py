"""ByteBuffer: the bounded buffer between socket and spool."""

from __future__ import annotations

import threading
import time

import pytest

from boxzipfs.download.buffer import BufferClosed, ByteBuffer


def test_put_blocks_when_full_and_take_drains_everything() -> None:
    buffer = ByteBuffer(10)
    buffer.put(b"0123456789")
    done = threading.Event()
    threading.Thread(target=lambda: (buffer.put(b"abc"), done.set())).start()
    time.sleep(0.05)
    assert not done.is_set()  # full: the producer waits
    assert buffer.take() == [b"0123456789"]
    assert done.wait(2)
    buffer.end()
    assert buffer.take() == [b"abc"]
    assert buffer.take() is None
    assert buffer.high_water == 10


def test_memory_stays_bounded_under_a_fast_producer() -> None:
    buffer = ByteBuffer(1000)
    chunk = b"x" * 100
    taken = bytearray()

    def consume() -> None:
        while (data := buffer.take()) is not None:
            taken.extend(b"".join(data))
            time.sleep(0.001)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for _ in range(500):
        buffer.put(chunk)
    buffer.end()
    consumer.join(5)
    assert len(taken) == 50_000
    assert buffer.high_water <= 1000 + len(chunk)


def test_abort_stops_the_producer() -> None:
    buffer = ByteBuffer(5)
    buffer.put(b"12345")
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            buffer.put(b"6")
        except BufferClosed as exc:
            errors.append(exc)

    producer = threading.Thread(target=produce)
    producer.start()
    buffer.abort()
    producer.join(2)
    assert len(errors) == 1
    assert buffer.take() is None
    with pytest.raises(BufferClosed):
        buffer.put(b"7")

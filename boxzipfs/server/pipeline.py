"""Feeding a blocking chunk iterator (the zip builder, a file) to an async response.

A producer thread runs a few chunks ahead through a bounded queue, so building
the next chunk overlaps with sending this one; closing the response stops it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import TypeVar, cast

import anyio.to_thread

T = TypeVar("T")

_END = object()


async def in_thread(chunks: Iterable[T], depth: int = 4) -> AsyncIterator[T]:
    """Produce a blocking iterator's chunks in a thread of its own, ``depth`` chunks ahead,
    so building the next chunk overlaps with sending this one."""
    pipe: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                pipe.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(chunks)
        try:
            for chunk in iterator:
                if not put(chunk):
                    return
            put(_END)
        except BaseException as exc:
            put(exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    threading.Thread(target=produce, name="zip-producer", daemon=True).start()
    try:
        while (item := await anyio.to_thread.run_sync(pipe.get)) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield cast(T, item)
    finally:
        stop.set()


def file_chunks(path: Path, chunk_size: int) -> Iterator[bytes]:
    with path.open("rb", buffering=0) as handle:
        while chunk := handle.read(chunk_size):
            yield chunk

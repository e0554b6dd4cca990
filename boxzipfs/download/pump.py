"""Socket -> spool on the download's own thread, in large batches.

Chunks are gathered and written with one vectored write once ``limit`` bytes are
in, or as soon as the source is idle (a socket read came back short: nothing more
was waiting, so a slow stream's bytes never sit in memory while the socket is
quiet); readers waiting for those bytes then wake. One thread and large batches:
no hand-off per chunk, one wake-up per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from boxzipfs.download.spool import Spool
from boxzipfs.errors import Cancelled


def pump(
    source: Iterable[bytes],
    spool: Spool,
    limit: int,
    idle: Callable[[], bool],
    stopped: Callable[[], bool],
    on_batch: Callable[[int], None],
) -> None:
    """Append ``source`` to ``spool``; ``on_batch(total)`` after each write; Cancelled once
    ``stopped()`` says so (checked after each write)."""
    batch: list[bytes] = []
    gathered = 0
    for chunk in source:
        batch.append(chunk)
        gathered += len(chunk)
        if gathered >= limit or idle():
            spool.append(batch)
            on_batch(spool.length)
            batch, gathered = [], 0
            if stopped():
                raise Cancelled("cancelled")
    if batch:
        spool.append(batch)
        on_batch(spool.length)

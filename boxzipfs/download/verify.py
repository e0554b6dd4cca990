"""Resuming a broken stream without splicing: a new stream's first bytes must equal those
already received, byte for byte, before any of its bytes go on.

One verifier (:func:`resumed`), bytes in and bytes out, for whole archives and for
the parts of a split request alike; only where the known bytes are differs. A whole
archive's bytes are in its spool (:class:`SpoolPrefix` compares them piece by
piece, so a change is caught at its first differing chunk); a part's bytes were
passed on and not kept (:class:`DigestPrefix` keeps their SHA-256, compared when
the new stream has caught up).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from boxzipfs.errors import ArchiveChanged


class Prefix(Protocol):
    """The bytes already received, as far as a new stream must match them."""

    @property
    def length(self) -> int: ...

    def check(self, offset: int, data: bytes) -> None:
        """Raise ArchiveChanged if ``data`` at ``offset`` is known to differ."""
        ...

    def finish(self) -> None:
        """All ``length`` bytes were checked: raise ArchiveChanged if they differed."""
        ...


class SpoolPrefix:
    """The bytes of a spool: each piece compared with the same bytes on disk."""

    def __init__(self, length: int, pread: Callable[[int, int], bytes]) -> None:
        self.length = length
        self._pread = pread

    def check(self, offset: int, data: bytes) -> None:
        if self._pread(offset, len(data)) != data:
            raise ArchiveChanged(
                f"the resumed stream differs from the first within bytes {offset}-{offset + len(data)}: "
                "the content changed on Box, so nothing is spliced"
            )

    def finish(self) -> None:
        pass


class DigestPrefix:
    """Bytes passed on and not kept: their count and SHA-256 (``record`` each as it goes)."""

    def __init__(self) -> None:
        self.length = 0
        self._passed = hashlib.sha256()
        self._check = hashlib.sha256()

    def record(self, data: bytes) -> None:
        self._passed.update(data)
        self.length += len(data)

    def check(self, offset: int, data: bytes) -> None:
        if offset == 0:
            self._check = hashlib.sha256()
        self._check.update(data)

    def finish(self) -> None:
        if self._check.digest() != self._passed.digest():
            raise ArchiveChanged(
                f"a resumed stream differs within its first {self.length} bytes: the content "
                "changed on Box, so nothing is spliced"
            )


def resumed(chunks: Iterable[bytes], known: Prefix, caught_up: Callable[[], None]) -> Iterator[bytes]:
    """``chunks`` without the first ``known.length`` bytes, each checked against ``known``;
    ``caught_up`` runs once they all matched. A stream that ends before is ArchiveChanged."""
    offset, need = 0, known.length
    if not need:
        caught_up()
    for whole in chunks:
        chunk = whole
        if offset < need:
            head = chunk[: need - offset]
            known.check(offset, head)
            offset += len(head)
            if offset == need:
                known.finish()
                caught_up()
            chunk = chunk[len(head) :]
            if not chunk:
                continue
        yield chunk
    if offset < need:
        raise ArchiveChanged(
            f"the resumed stream ended at {offset} bytes, before the {need} already received: "
            "the content changed on Box, so nothing is spliced"
        )

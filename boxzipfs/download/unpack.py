"""One Box file out of the zip download of that file alone, as it streams.

Box serves a single file's bytes only inside a zip (the Zip Downloads API is
the one content path here). stream-unzip unpacks it on the fly, whatever the
archive's format (stored or deflated, sizes up front or in data descriptors),
and checks each entry's CRC and sizes. Anything but exactly one file entry of
exactly the expected size is an error: the reader gets EIO, never other bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from stream_unzip import UnzipError, stream_unzip

from boxzipfs.errors import ArchiveIncomplete, StreamBroken

OUTPUT_CHUNK = 256 << 10


@dataclass(frozen=True)
class Extract:
    """Unpack the archive's one file, which must be ``size`` bytes (from the folder listing)."""

    size: int
    modified_ns: int = 0  # the listing's version: a file changed on Box is a new Extract
    sha1: str | None = None  # Box's SHA-1 of the file: its last bytes are held back until it matches
    file_id: str = ""

    def __call__(self, archive: Iterable[bytes]) -> Iterator[bytes]:
        digest = hashlib.sha1(usedforsecurity=False)
        held = b""  # the last piece: delivered only once the whole file proved to be Box's
        for piece in self._unpacked(archive):
            digest.update(piece)
            if held:
                yield held
            held = piece
        if self.sha1 is not None and digest.hexdigest() != self.sha1.lower():
            raise ArchiveIncomplete(
                f"the file's bytes do not match the SHA-1 Box lists for it ({self.sha1[:12]}...): "
                "not served (it changed on Box, or was corrupted on the way)"
            )
        if held:
            yield held

    def _unpacked(self, archive: Iterable[bytes]) -> Iterator[bytes]:
        files = 0
        total = 0
        try:
            for name, _, data in stream_unzip(archive, chunk_size=OUTPUT_CHUNK):
                if name.endswith(b"/"):
                    for _ in data:  # a folder entry: nothing to deliver
                        pass
                    continue
                files += 1
                if files > 1:
                    raise ArchiveIncomplete("the archive of one file holds more than one file")
                for piece in data:
                    total += len(piece)
                    if total > self.size:
                        raise ArchiveIncomplete(
                            f"the file is larger than the {self.size} bytes its folder lists "
                            "(it changed on Box; the listing refreshes after --list-ttl)"
                        )
                    yield piece
        except UnzipError as exc:
            raise StreamBroken(
                f"the archive could not be unpacked: {type(exc).__name__} {exc}".strip()
            ) from None
        if files == 0:
            raise ArchiveIncomplete("Box delivered no file: it was skipped")
        if total != self.size:
            raise ArchiveIncomplete(
                f"the file has {total} bytes, not the {self.size} its folder lists "
                "(it changed on Box; the listing refreshes after --list-ttl)"
            )

"""Build a zip download's archive as a stream, with stream-zip, in one of two formats.

``stored`` (the default): no compression, serving must never be the bottleneck
and most Box content is already compressed. stream-zip's stored modes buffer a
whole file unless told its size and CRC, so each file's CRC is computed in a
first pass over the file (cached by inode, size and mtime) and its bytes are
streamed in a second: never a whole file in memory.

``deflate``: entries deflated (level 1) with sizes and CRC in data descriptors
after the data, one pass. Box's own format is undocumented; clients must
read both. ZIP64 is used only where needed, in either.
"""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from cachetools import LRUCache
from stream_zip import NO_COMPRESSION_32, NO_COMPRESSION_64, ZIP_32, ZIP_64, stream_zip

from boxzipfs.server.zips import PlannedEntry, ZipJob

Readable = Callable[[str], bool]
ZIP32_LIMIT = 0xFFFF_0000  # stay clear of 4 GiB, leaving room for headers
_crc_cache: LRUCache[tuple[int, int, int, int], int] = LRUCache(maxsize=200_000)


class SourceChanged(Exception):
    """A file changed size while it was being archived; the stream must fail."""


def _crc(fd: int, st: os.stat_result, chunk: int) -> int:
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _crc_cache.get(key)
    if cached is not None:
        return cached
    crc, offset = 0, 0
    while offset < st.st_size:
        data = os.pread(fd, min(chunk, st.st_size - offset), offset)
        if not data:
            raise SourceChanged("file shrank while its CRC was computed")
        crc = zlib.crc32(data, crc)
        offset += len(data)
    _crc_cache[key] = crc
    return crc


def _file_bytes(fd: int, size: int, chunk: int, job: ZipJob) -> Iterator[bytes]:
    try:
        offset = 0
        while offset < size:
            data = os.pread(fd, min(chunk, size - offset), offset)
            if not data:
                raise SourceChanged("file shrank while it was archived")
            offset += len(data)
            yield data
        with job.lock:
            job.downloaded += 1
    finally:
        os.close(fd)


def _skip(job: ZipJob, folder: bool) -> None:
    with job.lock:
        if folder:
            job.skipped_folders += 1
        else:
            job.skipped_files += 1


def _members(job: ZipJob, readable: Readable, chunk: int, deflate: bool) -> Iterator[tuple[Any, ...]]:
    """stream-zip member tuples, re-checking each entry; skipped ones are counted."""
    skipped_prefixes: list[str] = []
    written = 0
    for entry in job.plan:
        is_folder = entry.name.endswith("/")
        if any(entry.name.startswith(p) for p in skipped_prefixes):
            _skip(job, folder=is_folder)
            continue
        if is_folder:
            member = _folder_member(entry, readable)
            if member is None:
                skipped_prefixes.append(entry.name)
                _skip(job, folder=True)
            else:
                yield member
            continue
        opened = _open_file(entry, readable)
        if opened is None:
            _skip(job, folder=False)
            continue
        fd, st = opened
        written += st.st_size + 200 + len(entry.name.encode())
        large = written >= ZIP32_LIMIT or st.st_size >= ZIP32_LIMIT
        method: Any
        if deflate:
            method = ZIP_64 if large else ZIP_32
        else:
            try:
                crc = _crc(fd, st, chunk)
            except BaseException:
                os.close(fd)
                raise
            method = (NO_COMPRESSION_64 if large else NO_COMPRESSION_32)(st.st_size, crc)
        yield (
            entry.name,
            datetime.fromtimestamp(st.st_mtime),
            stat.S_IMODE(st.st_mode) | stat.S_IFREG,
            method,
            _file_bytes(fd, st.st_size, chunk, job),
        )


def _folder_member(entry: PlannedEntry, readable: Readable) -> tuple[Any, ...] | None:
    try:
        st = entry.node.path.stat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or not readable(entry.node.rel):
        return None
    return (
        entry.name,
        datetime.fromtimestamp(st.st_mtime),
        stat.S_IMODE(st.st_mode) | stat.S_IFDIR,
        NO_COMPRESSION_32(0, 0),
        (),
    )


def _open_file(entry: PlannedEntry, readable: Readable) -> tuple[int, os.stat_result] | None:
    if not readable(entry.node.rel):
        return None
    try:
        fd = os.open(entry.node.path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return fd, st


def archive_chunks(job: ZipJob, readable: Readable, chunk_size: int, fmt: str = "stored") -> Iterable[bytes]:
    """The archive of ``job`` in format ``fmt`` as chunks of about ``chunk_size`` bytes."""
    return stream_zip(
        _members(job, readable, chunk_size, deflate=fmt == "deflate"),
        chunk_size=chunk_size,
        get_compressobj=lambda: zlib.compressobj(wbits=-zlib.MAX_WBITS, level=1),
    )

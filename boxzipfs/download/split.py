"""A request past Box's limits as ONE archive: listed, cut into parts, joined by re-packing.

When Box refuses a request for its file count or byte total, the request's
folders are listed (every page; a split costs a listing of the tree) and every
file becomes a file item with the path it would have in one archive of the
whole request. The file items are downloaded in parts, one after another, each
a normal zip download; a part Box still refuses is halved until it fits (Box
does not publish its byte limit). Each part is unpacked as it streams
(stream-unzip, whatever its format) and its files re-packed into the one output
archive (stream-zip, deflate at level 0: stored blocks, so nearly a copy, with
data descriptors and ZIP64 where needed), together with every folder's entry.
Nothing of a part is kept beyond the chunk in hand.

Paths: a part's archive names each file item by its bare name (or, when two in
a part share one, by the name Box reports in ``name_conflicts``); the plan maps
each back to its full path. Requested file items, whose names only Box knows,
keep the name their part gives them, as in an archive of the whole request.
"""

from __future__ import annotations

import stat
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stream_unzip import UnzipError, stream_unzip
from stream_zip import NO_COMPRESSION_32, NO_COMPRESSION_64, ZIP_64, ZIP_AUTO, stream_zip

from boxzipfs.errors import ArchiveIncomplete, LimitExceeded, StreamBroken
from boxzipfs.models import MAX_FILES_PER_ARCHIVE, FolderEntry, ZipDownload, ZipItem, ZipRequest

FIELDS = "name,size,modified_at,parent"
FILE_MODE = stat.S_IFREG | 0o644
DIR_MODE = stat.S_IFDIR | 0o755

ListFolder = Callable[[str, str], Iterable[FolderEntry]]
# Opens one part: the create's answer (for name_conflicts) and the part's raw archive bytes.
OpenPart = Callable[[ZipRequest], tuple[ZipDownload, Iterator[bytes]]]


@dataclass(frozen=True)
class PlannedFile:
    item: ZipItem
    path: str | None  # its path in the joined archive; None: the name its part gives it
    modified: datetime


@dataclass
class SplitPlan:
    """Every folder entry and every file of the request, with their joined paths."""

    folders: list[tuple[str, datetime]] = field(default_factory=list)
    files: list[PlannedFile] = field(default_factory=list)
    whole: list[ZipItem] = field(default_factory=list)  # empty requested folders, passed as they are

    @property
    def file_count(self) -> int:
        return len(self.files)


def _moment(entry: FolderEntry) -> datetime:
    ns = entry.modified_ns
    return datetime.fromtimestamp(ns / 1e9, UTC) if ns is not None else datetime.now(UTC)


def plan_request(request: ZipRequest, list_folder: ListFolder) -> SplitPlan:
    """List every requested folder (every page) and place each file at its joined path."""
    plan = SplitPlan()
    for item in request.items:
        if item.type == "file":
            plan.files.append(PlannedFile(item, None, datetime.now(UTC)))
            continue
        entries = list(list_folder(item.id, FIELDS))
        if not entries:
            plan.whole.append(item)  # its name shows only in an archive of it: pass it whole
            continue
        parent = entries[0].parent
        if parent is None:
            raise ArchiveIncomplete("the folder listing does not name the folder; cannot split the request")
        top = parent[1] + "/"
        plan.folders.append((top, datetime.now(UTC)))
        _place(entries, top, list_folder, plan)
    return plan


def _place(entries: list[FolderEntry], prefix: str, list_folder: ListFolder, plan: SplitPlan) -> None:
    for entry in entries:
        if entry.type == "file":
            plan.files.append(PlannedFile(ZipItem("file", entry.id), prefix + entry.name, _moment(entry)))
        elif entry.type == "folder":
            path = f"{prefix}{entry.name}/"
            plan.folders.append((path, _moment(entry)))
            _place(list(list_folder(entry.id, FIELDS)), path, list_folder, plan)


@dataclass
class SplitProgress:
    """What status.json shows of a split request."""

    files_total: int = 0
    files_done: int = 0
    parts_done: int = 0
    part_streaming: int | None = None  # 1-based number of the part now streaming
    refused: int = 0  # parts Box refused and that were halved

    def to_json(self) -> dict[str, Any]:
        return {
            "parts_done": self.parts_done,
            "part_streaming": self.part_streaming,
            "parts_refused_and_halved": self.refused,
            "files_done": self.files_done,
            "files_total": self.files_total,
        }


class Joiner:
    """The joined archive's bytes: folder entries, then each part's files re-packed."""

    def __init__(self, plan: SplitPlan, open_part: OpenPart, progress: SplitProgress) -> None:
        self._plan = plan
        self._open_part = open_part
        self.progress = progress
        progress.files_total = plan.file_count

    def chunks(self, chunk_size: int) -> Iterable[bytes]:
        return stream_zip(
            self._members(),
            chunk_size=chunk_size,
            get_compressobj=lambda: zlib.compressobj(wbits=-zlib.MAX_WBITS, level=0),
        )

    def _members(self) -> Iterator[Any]:
        for path, moment in self._plan.folders:
            yield path, moment, DIR_MODE, NO_COMPRESSION_32(0, 0), ()
        first = [ZipItem(f.item.type, f.item.id) for f in self._plan.files] + self._plan.whole
        by_id = {f.item.id: f for f in self._plan.files}
        parts: deque[list[ZipItem]] = deque(
            first[i : i + MAX_FILES_PER_ARCHIVE] for i in range(0, len(first), MAX_FILES_PER_ARCHIVE)
        )
        while parts:
            items = parts.popleft()
            try:
                download, raw = self._open_part(ZipRequest(tuple(items)))
            except LimitExceeded:
                if len(items) == 1:
                    raise
                self.progress.refused += 1
                half = len(items) // 2
                parts.extendleft([items[half:], items[:half]])
                continue
            self.progress.part_streaming = self.progress.parts_done + 1
            yield from self._part(items, download, raw, by_id)
            self.progress.parts_done += 1
            self.progress.part_streaming = None

    def _part(
        self, items: list[ZipItem], download: ZipDownload, raw: Iterator[bytes], by_id: dict[str, PlannedFile]
    ) -> Iterator[Any]:
        """One part's entries under their joined paths. Every listed file must arrive exactly
        once, and an entry no file of the part explains is an error, never a misplaced file;
        only requested file items (whose names the listing never gave) keep their part's name."""
        renamed = {side.download_name: side.id for pair in download.name_conflicts for side in pair}
        planned_here = [by_id[item.id] for item in items if item.id in by_id]
        placed = {p.item.id: p for p in planned_here if p.path is not None}
        loose = len(planned_here) - len(placed)
        by_name = {p.path.rsplit("/", 1)[-1]: p for p in placed.values() if p.path is not None}
        seen: set[str] = set()
        loose_seen = 0
        try:
            for raw_name, size, data in stream_unzip(raw, chunk_size=1 << 20):
                name = raw_name.decode()
                if name.endswith("/"):
                    for _ in data:
                        pass
                    yield name, datetime.now(UTC), DIR_MODE, NO_COMPRESSION_64(0, 0), ()
                    continue
                top, slash, _ = name.partition("/")
                planned = by_id.get(renamed[top]) if top in renamed and not slash else by_name.get(name)
                if planned is not None and planned.path is not None:
                    if planned.item.id in seen:
                        raise ArchiveIncomplete(f"a part delivered {name!r} twice")
                    seen.add(planned.item.id)
                    target, moment = planned.path, planned.modified
                else:
                    loose_seen += 1
                    if loose_seen > loose:
                        raise ArchiveIncomplete(
                            f"a part held {name!r}, which no listed file explains: joining it would "
                            "misplace it, so the archive is refused"
                        )
                    target, moment = name, datetime.now(UTC)
                method = ZIP_AUTO(size, level=0) if size is not None else ZIP_64
                self.progress.files_done += 1
                yield target, moment, FILE_MODE, method, data
        except UnzipError as exc:
            raise StreamBroken(f"a part could not be unpacked: {type(exc).__name__}") from None
        arrived, expected = len(seen) + loose_seen, len(planned_here)
        if arrived < expected:
            raise ArchiveIncomplete(
                f"a part delivered {arrived} of its {expected} files: Box skipped some (the joined "
                "archive would be short)"
            )

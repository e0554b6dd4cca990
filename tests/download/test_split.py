"""Joiner, narrowly: a part's entries must be the files asked for, or the join fails."""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from boxzipfs.download.split import Joiner, PlannedFile, SplitPlan, SplitProgress
from boxzipfs.errors import ArchiveIncomplete
from boxzipfs.models import ZipDownload, ZipItem, ZipRequest

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def part(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate name, on purpose
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


def join(plan: SplitPlan, served: list[tuple[str, bytes]]) -> dict[str, bytes]:
    def open_part(request: ZipRequest) -> tuple[ZipDownload, Iterator[bytes]]:
        return ZipDownload("u", "s", ""), iter([part(served)])

    data = b"".join(Joiner(plan, open_part, SplitProgress()).chunks(65536))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist()}


def plan_of(*files: tuple[str, str | None]) -> SplitPlan:
    return SplitPlan(
        folders=[("top/", NOW)], files=[PlannedFile(ZipItem("file", i), path, NOW) for i, path in files]
    )


def test_entries_go_to_their_listed_paths() -> None:
    joined = join(plan_of(("1", "top/a/x.txt"), ("2", None)), [("x.txt", b"x"), ("asked.pdf", b"p")])
    assert joined == {"top/": b"", "top/a/x.txt": b"x", "asked.pdf": b"p"}


def test_an_entry_no_listed_file_explains_fails_the_join() -> None:
    """Before: an unexpected name was joined at the top under its own name, silently."""
    with pytest.raises(ArchiveIncomplete, match="no listed file explains"):
        join(plan_of(("1", "top/a/x.txt")), [("renamed-by-box.txt", b"x")])


def test_a_missing_or_doubled_file_fails_the_join() -> None:
    with pytest.raises(ArchiveIncomplete, match="1 of its 2 files"):
        join(plan_of(("1", "top/x.txt"), ("2", "top/y.txt")), [("x.txt", b"x")])
    with pytest.raises(ArchiveIncomplete, match="twice"):
        join(plan_of(("1", "top/x.txt")), [("x.txt", b"x"), ("x.txt", b"again")])

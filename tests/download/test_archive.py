"""ArchiveDownload on an in-process fake of Box's zip API: the life of one download,
resumes that match and ones that do not, 429s waited out visibly, cancel. No server,
no sleeps beyond the waits under test; the end-to-end behaviour is in tests/mount."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from boxzipfs.download.archive import ArchiveDownload, DownloadSettings
from boxzipfs.download.slots import SlotQueue
from boxzipfs.download.state import Phase
from boxzipfs.download.unpack import Extract
from boxzipfs.errors import ArchiveChanged, QueueTimeout, ShuttingDown, StreamBroken, TooManyRequests
from boxzipfs.models import FolderEntry, RequestSpec, ZipDownload, ZipItem, ZipRequest, ZipStatus


def archive_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


class FakeContent:
    def __init__(self, data: bytes, cut_at: int | None, chunk: int, gate: threading.Event | None) -> None:
        self._data, self._cut_at, self._chunk, self._gate = data, cut_at, chunk, gate
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        end = len(self._data) if self._cut_at is None else self._cut_at
        for start in range(0, end, self._chunk):
            if self._gate is not None:
                self._gate.wait()
            yield self._data[start : min(start + self._chunk, end)]
        if self._cut_at is not None:
            raise StreamBroken("reading the zip content failed: ReadError")

    def idle(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FakeContent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeBox:
    """Box's zip API in process: each create serves ``archives`` in turn (the last repeats)."""

    def __init__(self, *archives: bytes, cuts: tuple[int | None, ...] = (), throttle: int = 0) -> None:
        self.archives = list(archives)
        self.cuts = list(cuts)
        self.throttle = throttle
        self.creates = 0
        self.contents: list[FakeContent] = []
        self.gate: threading.Event | None = None

    def create_zip_download(self, request: ZipRequest) -> ZipDownload:
        self.creates += 1
        if self.throttle:
            self.throttle -= 1
            raise TooManyRequests(429, "user_too_many_concurrent_downloads", "busy", "", 0.01)
        return ZipDownload(f"fake://content/{self.creates}", f"fake://status/{self.creates}", "")

    def open_content(self, download: ZipDownload, stopped: Callable[[], bool] = lambda: False) -> FakeContent:
        index = int(download.download_url.rsplit("/", 1)[1]) - 1
        data = self.archives[min(index, len(self.archives) - 1)]
        cut = self.cuts[index] if index < len(self.cuts) else None
        content = FakeContent(data, cut, 1000, self.gate)
        self.contents.append(content)
        return content

    def get_status(self, download: ZipDownload) -> ZipStatus:
        return ZipStatus(1, 1, 0, 0, "succeeded")

    def list_folder(self, folder_id: str, fields: str) -> Iterator[FolderEntry]:
        return iter(())


SPEC = RequestSpec(ZipRequest((ZipItem("folder", "1"),), "x"))


def run(box: FakeBox, tmp_path: Path, slots: SlotQueue | None = None, **settings: float) -> ArchiveDownload:
    chosen = DownloadSettings(buffer_size=4096, **settings)  # type: ignore[arg-type]
    download = ArchiveDownload("x", SPEC, box, slots or SlotQueue(1), tmp_path / "x.spool", chosen)
    download.start()
    download.join(10)
    return download


def test_a_whole_archive_lands_byte_exact(tmp_path: Path) -> None:
    data = archive_of({"a.txt": b"a" * 50_000, "b.bin": bytes(range(256)) * 40})
    download = run(FakeBox(data), tmp_path)
    assert download.phase is Phase.SUCCEEDED
    assert download.read(0, len(data) + 1) == data
    state = download.snapshot()
    assert (state.received, state.resumes) == (len(data), 0)


def test_a_broken_stream_resumes_only_over_identical_bytes(tmp_path: Path) -> None:
    data = archive_of({"a.txt": bytes(range(256)) * 400})
    box = FakeBox(data, cuts=(30_000, 50_000))
    download = run(box, tmp_path)
    assert download.phase is Phase.SUCCEEDED, download.snapshot().error
    assert download.read(0, len(data)) == data
    assert (box.creates, download.snapshot().resumes) == (3, 2)
    assert all(content.closed for content in box.contents)


def test_a_resume_over_changed_bytes_fails_and_splices_nothing(tmp_path: Path) -> None:
    first = archive_of({"a.txt": b"a" * 60_000})
    second = archive_of({"a.txt": b"b" * 60_000})
    download = run(FakeBox(first, second, cuts=(40_000,)), tmp_path)
    assert download.phase is Phase.FAILED
    with pytest.raises(ArchiveChanged):
        download.read(0, 10)


def test_a_stream_that_ends_early_without_an_error_is_never_complete(tmp_path: Path) -> None:
    data = archive_of({"a.txt": b"a" * 60_000})
    download = run(FakeBox(data[:-10]), tmp_path, resume_attempts=0)
    assert download.phase is Phase.FAILED
    with pytest.raises(StreamBroken, match="end record"):
        download.read(0, 10)


def test_429s_are_waited_out_and_shown_then_give_up_at_the_deadline(tmp_path: Path) -> None:
    data = archive_of({"a.txt": b"a"})
    download = run(FakeBox(data, throttle=2), tmp_path)
    assert download.phase is Phase.SUCCEEDED
    assert download.snapshot().throttled == {
        "status": 429, "code": "user_too_many_concurrent_downloads", "count": 2,
    }  # fmt: skip
    stuck = run(FakeBox(data, throttle=1000), tmp_path, queue_deadline=0.05)
    assert stuck.phase is Phase.FAILED
    assert isinstance(stuck.snapshot().error, QueueTimeout)


def test_cancel_stops_a_stream_frees_its_slot_and_every_reader_sees_why(tmp_path: Path) -> None:
    box = FakeBox(archive_of({"a.txt": bytes(200_000)}))
    box.gate = threading.Event()
    slots = SlotQueue(1)
    settings = DownloadSettings(buffer_size=4096)
    download = ArchiveDownload("x", SPEC, box, slots, tmp_path / "x.spool", settings)
    download.start()
    download.wait_started()
    assert slots.in_use == 1
    download.cancel()
    box.gate.set()
    download.join(10)
    assert (download.phase, slots.in_use) == (Phase.FAILED, 0)
    errors = []
    for _ in range(2):
        with pytest.raises(ShuttingDown) as raised:
            download.read(0, 10)
        errors.append(raised.value)
    assert errors[0] is not errors[1]  # each raise its own copy: tracebacks never pile up


def test_an_unpacked_file_resumes_against_the_unpacked_bytes_it_spooled(tmp_path: Path) -> None:
    """A browse file's spool holds the file, not its archive: a resumed stream is unpacked
    first, then checked against the spool (checking the raw archive there fails every resume)."""
    payload = bytes(range(256)) * 400
    data = archive_of({"f.bin": payload})
    box = FakeBox(data, cuts=(60_000,))
    download = ArchiveDownload(
        "f", SPEC, box, SlotQueue(1), tmp_path / "f.spool", DownloadSettings(buffer_size=4096),
        extract=Extract(len(payload)),
    )  # fmt: skip
    download.start()
    download.join(10)
    assert download.phase is Phase.SUCCEEDED, download.snapshot().error
    assert download.read(0, len(payload) + 1) == payload
    assert download.snapshot().resumes == 1

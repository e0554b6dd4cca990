"""Box in process, for the fast tests below FUSE: a tree of folders and files in memory,
its folder listings and its zip API (the :class:`boxzipfs.download.api.ZipApi` the
download layer calls), with call counts. No sockets, no threads of its own.

A zip download holds what its items were when it was created, laid out as Box lays
them out: a file at the top under its name, a folder as its name and everything below
it. The behaviour of the real wire is tested against ``boxzipfs serve`` instead.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import threading
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from boxzipfs.errors import BoxZipError, NotFound
from boxzipfs.models import FolderEntry, ZipDownload, ZipRequest, ZipStatus

ROOT = "0"
MODIFIED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass
class Item:
    """A file (``data`` set) or a folder (``children`` by name)."""

    id: str
    name: str
    parent: str | None
    data: bytes | None = None
    children: dict[str, str] = field(default_factory=dict)
    modified: datetime = MODIFIED

    @property
    def is_file(self) -> bool:
        return self.data is not None

    @property
    def sha1(self) -> str | None:
        return None if self.data is None else hashlib.sha1(self.data).hexdigest()


class Content:
    """A zip download's one-shot body, served in ``chunk``-byte pieces."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self._data = data
        self._chunk = chunk
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self._data), self._chunk):
            yield self._data[start : start + self._chunk]

    def idle(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Content:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeBox:
    """A Box account in memory; ``calls`` counts each API call by name."""

    def __init__(self, chunk: int = 64 << 10) -> None:
        self.items: dict[str, Item] = {ROOT: Item(ROOT, "All Files", None)}
        self.calls: Counter[str] = Counter()
        self.chunk = chunk
        self._ids = itertools.count(100)
        self._zips: dict[str, tuple[bytes, int]] = {}  # download URL -> (archive, files in it)
        self._lock = threading.Lock()  # the download layer calls from its own threads
        self.refuse_create: BoxZipError | None = None  # the answer every create gets, if set

    # -- the account ------------------------------------------------------------------

    def folder(self, name: str, parent: str = ROOT) -> str:
        """A new folder's ID."""
        return self._add(Item(str(next(self._ids)), name, parent, children={}))

    def file(self, name: str, data: bytes, parent: str = ROOT) -> str:
        """A new file's ID."""
        return self._add(Item(str(next(self._ids)), name, parent, data=data))

    def change(self, file_id: str, data: bytes) -> None:
        """New bytes for a file (a new version on Box)."""
        with self._lock:
            self.items[file_id].data = data
            self.items[file_id].modified = datetime.now(UTC)

    def _add(self, item: Item) -> str:
        with self._lock:
            assert item.parent is not None
            self.items[item.parent].children[item.name] = item.id
            self.items[item.id] = item
        return item.id

    # -- the API the download layer and the browse tree call -----------------------------

    def list_folder(
        self, folder_id: str, fields: str = "name,size,modified_at,sha1"
    ) -> Iterator[FolderEntry]:
        with self._lock:
            self.calls["list_folder"] += 1
            folder = self.items.get(folder_id)
            if folder is None or folder.is_file:
                raise NotFound(404, "not_found", "Not Found", "")
            entries = [self._entry(self.items[child]) for child in folder.children.values()]
        return iter(entries)

    def _entry(self, item: Item) -> FolderEntry:
        size = len(item.data) if item.data is not None else self._folder_size(item)
        kind = "file" if item.is_file else "folder"
        return FolderEntry(kind, item.id, item.name, size, item.modified.isoformat(), None, item.sha1)

    def _folder_size(self, folder: Item) -> int:
        return sum(
            len(child.data) if child.data is not None else self._folder_size(child)
            for child in (self.items[i] for i in folder.children.values())
        )

    def create_zip_download(self, request: ZipRequest) -> ZipDownload:
        with self._lock:
            self.calls["create_zip_download"] += 1
            if self.refuse_create is not None:
                raise self.refuse_create
            number = len(self._zips) + 1
            out = io.BytesIO()
            count = 0
            with zipfile.ZipFile(out, "w") as archive:
                for zip_item in request.items:
                    item = self.items.get(zip_item.id)
                    if item is None or item.is_file != (zip_item.type == "file"):
                        continue  # Box skips what it cannot find
                    count += self._write(archive, item, "")
            url = f"fake://content/{number}"
            self._zips[url] = (out.getvalue(), count)
        return ZipDownload(url, f"fake://status/{number}", "2099-01-01T00:00:00Z")

    def _write(self, archive: zipfile.ZipFile, item: Item, prefix: str) -> int:
        if item.data is not None:
            archive.writestr(prefix + item.name, item.data)
            return 1
        archive.writestr(prefix + item.name + "/", b"")
        return sum(
            self._write(archive, self.items[i], f"{prefix}{item.name}/") for i in item.children.values()
        )

    def open_content(self, download: ZipDownload, stopped: Callable[[], bool] = lambda: False) -> Content:
        with self._lock:
            self.calls["open_content"] += 1
            data, _ = self._zips[download.download_url]
        return Content(data, self.chunk)

    def get_status(self, download: ZipDownload) -> ZipStatus:
        with self._lock:
            self.calls["get_status"] += 1
            _, count = self._zips[download.download_url]
        return ZipStatus(count, count, 0, 0, "succeeded")

    def archive(self, number: int) -> bytes:
        """The bytes of the ``number``-th zip download created (1 is the first)."""
        return self._zips[f"fake://content/{number}"][0]

"""What the download layer needs of Box: four calls and a content stream.

:class:`boxzipfs.client.box.BoxClient` is the real one; the download layer's unit
tests pass an in-process fake. Nothing below knows HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from boxzipfs.models import FolderEntry, ZipDownload, ZipRequest, ZipStatus


class Content(Protocol):
    """The one-shot body of a zip download: iterate for chunks, then close."""

    def __iter__(self) -> Iterator[bytes]: ...

    def idle(self) -> bool:
        """Whether the last chunk took all that was waiting (time to hand readers what arrived)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Content: ...

    def __exit__(self, *exc: object) -> None: ...


class ZipApi(Protocol):
    """The Box calls of the download layer. 429s reach the caller as TooManyRequests."""

    def create_zip_download(self, request: ZipRequest) -> ZipDownload: ...

    def open_content(self, download: ZipDownload, stopped: Callable[[], bool] = ...) -> Content:
        """GET the download's content; Cancelled within about a second once ``stopped()``
        is true, even while the stream is stalled (an abandoned download frees its slot, an
        unmount does not wait for the stall timeout)."""
        ...

    def get_status(self, download: ZipDownload) -> ZipStatus: ...

    def list_folder(self, folder_id: str, fields: str) -> Iterable[FolderEntry]: ...

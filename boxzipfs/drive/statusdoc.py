"""The content of a request's status.json: Box's status merged with local state.

It never holds the token, the download URL or the status URL.
"""

from __future__ import annotations

import errno
import json
from typing import Any

from boxzipfs.download.archive import ArchiveDownload
from boxzipfs.drive.errnos import errno_for
from boxzipfs.errors import BoxAPIError, BoxZipError
from boxzipfs.models import RequestSpec, ZipStatus

BOX_FIELDS = ZipStatus().to_json().keys()


def error_document(exc: BoxZipError) -> dict[str, Any]:
    code = errno_for(exc)
    doc: dict[str, Any] = {
        "errno": errno.errorcode.get(code, str(code)),
        "type": type(exc).__name__,
        "message": str(exc),
    }
    if isinstance(exc, BoxAPIError):
        doc["box"] = exc.as_dict()
    return doc


def status_document(
    name: str,
    spec: RequestSpec | None,
    wait_for_size: bool | None,
    download: ArchiveDownload | None,
    queue_position: int | None,
    readers: int,
    definition_error: str | None,
    poll: bool = True,
) -> dict[str, Any]:
    """The document; ``poll`` False uses Box's last known status (no network, for stat)."""
    doc: dict[str, Any] = {
        "name": name,
        "defined": spec is not None,
        "allow_skips": spec.allow_skips if spec else None,
        "wait_for_size": wait_for_size,
        "phase": "idle",
        "readers": readers,
    }
    box: dict[str, Any] = dict.fromkeys(BOX_FIELDS)
    if download is not None:
        doc.update(download.snapshot(queue_position))
        status = download.poll_status() if poll else download.box_status
        if status is not None:
            box = status.to_json()
        doc["error"] = error_document(download.error) if download.error else None
    else:
        doc["error"] = None
    doc.update(box)
    doc["definition_error"] = definition_error
    return doc


def render(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2) + "\n").encode()

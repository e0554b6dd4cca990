"""The content of a request's status.json: Box's status merged with local state.

It never holds the token, the download URL or the status URL.
"""

from __future__ import annotations

import errno
import json
import time
from typing import Any

from boxzipfs.download.archive import ArchiveDownload
from boxzipfs.download.state import DownloadState, Phase
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
        status = download.poll_status() if poll else download.snapshot().box_status
        state = download.snapshot()
        doc.update(local_fields(state, queue_position))
        if status is not None:
            box = status.to_json()
        if state.split is not None:  # Box's status is the last part's: count the whole instead
            final = {Phase.SUCCEEDED: "succeeded", Phase.FAILED: "failed", Phase.ABANDONED: "failed"}
            box.update(
                total_file_count=state.split.files_total,
                downloaded_file_count=state.split.files_done,
                skipped_file_count=0,
                skipped_folder_count=0,
                state=final.get(state.phase, "in_progress"),
            )
        doc["error"] = error_document(state.error) if state.error else None
    else:
        doc["error"] = None
    doc.update(box)
    doc["definition_error"] = definition_error
    return doc


def local_fields(state: DownloadState, queue_position: int | None) -> dict[str, Any]:
    """The local half of status.json, from one snapshot of the download's state."""
    now = time.monotonic()
    elapsed = None
    if state.stream_started is not None:
        elapsed = (state.stream_ended or now) - state.stream_started
    download = state.zip_download
    throttled = state.phase is Phase.THROTTLED and state.retry_at is not None
    return {
        "phase": str(state.phase),
        "queue_position": queue_position,
        "retry_in_seconds": round(max(0.0, (state.retry_at or now) - now), 1) if throttled else None,
        "throttled": dict(state.throttled) if state.throttled else None,
        "resumes": state.resumes,
        "split": state.split.to_json() if state.split else None,
        "resume_reasons": list(state.resume_reasons),
        "bytes_delivered": state.received,
        "bytes_read": state.served,
        "archive_size": state.received if state.phase is Phase.SUCCEEDED else None,
        "throughput_bytes_per_second": round(state.received / elapsed) if elapsed else None,
        "queued_at": state.queued_at,
        "started_at": state.started_at,
        "finished_at": state.finished_at,
        "expires_at": download.expires_at if download else None,
        "name_conflicts": [[side.to_json() for side in pair] for pair in download.name_conflicts]
        if download
        else [],
    }


def render(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2) + "\n").encode()

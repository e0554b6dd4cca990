"""Data models shared by the client, the download machinery and the server.

Plain frozen dataclasses with explicit JSON conversion, so each side validates
what crosses the wire in one place. Fields that are secrets (download and status
URLs) are excluded from ``repr``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from boxzipfs.errors import RequestInvalid, RequestTooLarge

ItemType = Literal["file", "folder"]
ITEM_TYPES: tuple[ItemType, ...] = ("file", "folder")
MAX_FILES_PER_ARCHIVE = 10_000
MAX_REQUEST_JSON_BYTES = 1 << 20
ZIP_STATES = ("in_progress", "failed", "succeeded")


@dataclass(frozen=True)
class ZipItem:
    """One file or folder to put in an archive."""

    type: ItemType
    id: str

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id}

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> ZipItem:
        """Parse the command-line form ``folder:123`` or ``file:456``."""
        kind, sep, ident = text.partition(":")
        if not sep or kind not in ITEM_TYPES or not ident.isdigit():
            raise RequestInvalid(f"item {text!r} is not of the form folder:ID or file:ID")
        return cls(kind, ident)


@dataclass(frozen=True)
class ZipRequest:
    """Box's ZipDownloadRequest body."""

    items: tuple[ZipItem, ...]
    download_file_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"items": [item.to_json() for item in self.items]}
        if self.download_file_name is not None:
            body["download_file_name"] = self.download_file_name
        return body


@dataclass(frozen=True)
class RequestSpec:
    """A request directory's definition: Box's body plus local options.

    ``allow_skips``: a download whose items Box skipped still ends cleanly.
    ``wait_for_size``: stat and open of request.zip wait until the whole archive
    is spooled, so programs that trust st_size or seek from the end work; None
    leaves it to the mount's default.
    ``resume`` (default true): a broken stream is resumed by a new create whose
    first bytes must match those already received.
    ``split`` (default true): a request Box refuses for its size is listed, cut
    into parts and joined into one archive; false keeps Box's refusal (EFBIG).
    """

    request: ZipRequest
    allow_skips: bool = False
    wait_for_size: bool | None = None
    resume: bool = True
    split: bool = True

    def to_json(self) -> dict[str, Any]:
        body = self.request.to_json()
        body["allow_skips"] = self.allow_skips
        if self.wait_for_size is not None:
            body["wait_for_size"] = self.wait_for_size
        if not self.resume:
            body["resume"] = False
        if not self.split:
            body["split"] = False
        return body

    def dumps(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n").encode()


_LOCAL_OPTIONS = ("allow_skips", "wait_for_size", "resume", "split")


def parse_items(raw: object) -> tuple[ZipItem, ...]:
    """Validate the ``items`` array of a ZipDownloadRequest."""
    if not isinstance(raw, list) or not raw:
        raise RequestInvalid('\'items\' must be a non-empty list of {"type", "id"} objects')
    if len(raw) > MAX_FILES_PER_ARCHIVE:
        raise RequestTooLarge(f"{len(raw)} items: an archive holds at most {MAX_FILES_PER_ARCHIVE} files")
    items = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise RequestInvalid(f"items[{index}] must be an object")
        kind, ident = entry.get("type"), entry.get("id")
        if kind not in ITEM_TYPES:
            raise RequestInvalid(f"items[{index}].type must be 'file' or 'folder', not {kind!r}")
        if not isinstance(ident, str) or not ident.isdigit():
            raise RequestInvalid(f"items[{index}].id must be a string of digits, not {ident!r}")
        items.append(ZipItem(kind, ident))
    return tuple(items)


def parse_zip_request(obj: object) -> ZipRequest:
    """Validate a ZipDownloadRequest body as Box does (unknown keys are ignored)."""
    if not isinstance(obj, dict):
        raise RequestInvalid("the request body must be a JSON object")
    name = obj.get("download_file_name")
    if name is not None and (not isinstance(name, str) or "/" in name or not name.strip()):
        raise RequestInvalid("'download_file_name' must be a non-empty name without '/'")
    return ZipRequest(parse_items(obj.get("items")), name)


def parse_request_spec(data: bytes) -> RequestSpec:
    """Validate the bytes of a request.json; unknown keys are refused to catch typos."""
    if len(data) > MAX_REQUEST_JSON_BYTES:
        raise RequestTooLarge(f"request.json is {len(data)} bytes; the limit is 1 MiB")
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestInvalid(f"request.json is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RequestInvalid("request.json must be a JSON object")
    unknown = set(obj) - {"items", "download_file_name", *_LOCAL_OPTIONS}
    if unknown:
        raise RequestInvalid(f"request.json has unknown keys: {', '.join(sorted(unknown))}")
    for key in _LOCAL_OPTIONS:
        if key in obj and not isinstance(obj[key], bool):
            raise RequestInvalid(f"'{key}' must be true or false")
    return RequestSpec(
        parse_zip_request(obj),
        obj.get("allow_skips", False),
        obj.get("wait_for_size"),
        obj.get("resume", True),
        obj.get("split", True),
    )


def check_request_prefix(data: bytes) -> None:
    """Raise RequestInvalid if ``data`` cannot be the start of a valid request.json.

    Lets a write be refused as soon as the mistake shows (shells ignore errors at
    close): bytes that are complete JSON are validated fully; bytes that are merely
    unfinished JSON pass.
    """
    try:
        parse_request_spec(data)
    except RequestTooLarge:
        raise
    except RequestInvalid as exc:
        try:
            json.loads(data)
        except json.JSONDecodeError as decode_error:
            unfinished = decode_error.pos >= len(data.rstrip()) or decode_error.msg.startswith(
                ("Unterminated string", "Invalid \\")  # a string or escape cut short
            )
            if unfinished:
                return  # more bytes may follow
        except UnicodeDecodeError:
            if data[-1:] >= b"\x80":
                return  # may end inside a multi-byte character
        raise exc from None


@dataclass(frozen=True)
class NameConflict:
    """One side of a name conflict: an item renamed in the archive."""

    id: str
    type: ItemType
    original_name: str
    download_name: str

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "type": self.type,
            "original_name": self.original_name,
            "download_name": self.download_name,
        }


@dataclass(frozen=True)
class ZipDownload:
    """Box's answer to a create: where to fetch the archive and its status."""

    download_url: str = field(repr=False)
    status_url: str = field(repr=False)
    expires_at: str
    name_conflicts: tuple[tuple[NameConflict, ...], ...] = ()

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ZipDownload:
        conflicts = tuple(
            tuple(NameConflict(**side) for side in pair) for pair in obj.get("name_conflicts") or ()
        )
        return cls(obj["download_url"], obj["status_url"], obj.get("expires_at", ""), conflicts)

    def to_json(self) -> dict[str, Any]:
        return {
            "download_url": self.download_url,
            "status_url": self.status_url,
            "expires_at": self.expires_at,
            "name_conflicts": [[side.to_json() for side in pair] for pair in self.name_conflicts],
        }


@dataclass(frozen=True)
class ZipStatus:
    """Box's ZipDownloadStatus."""

    total_file_count: int = 0
    downloaded_file_count: int = 0
    skipped_file_count: int = 0
    skipped_folder_count: int = 0
    state: str = "in_progress"

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ZipStatus:
        return cls(
            int(obj.get("total_file_count", 0)),
            int(obj.get("downloaded_file_count", 0)),
            int(obj.get("skipped_file_count", 0)),
            int(obj.get("skipped_folder_count", 0)),
            str(obj.get("state", "in_progress")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "total_file_count": self.total_file_count,
            "downloaded_file_count": self.downloaded_file_count,
            "skipped_file_count": self.skipped_file_count,
            "skipped_folder_count": self.skipped_folder_count,
            "state": self.state,
        }

    @property
    def skipped(self) -> bool:
        return self.skipped_file_count > 0 or self.skipped_folder_count > 0


@dataclass(frozen=True)
class FolderEntry:
    """One entry of a folder listing."""

    type: str
    id: str
    name: str
    size: int | None = None
    modified_at: str | None = None  # ISO 8601 with offset, as Box writes it
    parent: tuple[str, str] | None = None  # the folder listed: (id, name)
    sha1: str | None = None  # a file's content hash, as Box lists it
    etag: str | None = None
    sequence_id: str | None = None

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> FolderEntry:
        size, modified, parent = obj.get("size"), obj.get("modified_at"), obj.get("parent")
        sha1, etag, sequence = obj.get("sha1"), obj.get("etag"), obj.get("sequence_id")
        return cls(
            str(obj["type"]),
            str(obj["id"]),
            str(obj["name"]),
            None if size is None else int(size),
            None if modified is None else str(modified),
            (str(parent["id"]), str(parent["name"])) if isinstance(parent, dict) else None,
            None if sha1 is None else str(sha1),
            None if etag is None else str(etag),
            None if sequence is None else str(sequence),
        )

    def to_json(self, fields: frozenset[str] | None = None) -> dict[str, Any]:
        """Box's JSON. Without ``fields``, Box's mini representation (type, id, sequence_id,
        etag, name; a file also sha1 and file_version); with them, type, id and etag plus the
        fields asked for that this entry has (Box ignores names it does not know)."""
        body: dict[str, Any] = {"type": self.type, "id": self.id}
        wanted = fields if fields is not None else frozenset({"sequence_id", "name", "sha1", "file_version"})
        if self.etag is not None:
            body["etag"] = self.etag
        if "sequence_id" in wanted and self.sequence_id is not None:
            body["sequence_id"] = self.sequence_id
        if "name" in wanted:
            body["name"] = self.name
        if "size" in wanted and self.size is not None:
            body["size"] = self.size
        if "modified_at" in wanted and self.modified_at is not None:
            body["modified_at"] = self.modified_at
        if "parent" in wanted and self.parent is not None:
            body["parent"] = {"type": "folder", "id": self.parent[0], "name": self.parent[1]}
        if self.type == "file" and self.sha1 is not None:
            if "sha1" in wanted:
                body["sha1"] = self.sha1
            if "file_version" in wanted:
                body["file_version"] = {"type": "file_version", "id": self.etag or self.id, "sha1": self.sha1}
        return body

    @property
    def modified_ns(self) -> int | None:
        """modified_at as nanoseconds since the epoch; None if absent or unreadable."""
        if self.modified_at is None:
            return None
        try:
            moment = datetime.fromisoformat(self.modified_at.replace("Z", "+00:00"))
        except ValueError:
            return None
        return int(moment.timestamp()) * 1_000_000_000

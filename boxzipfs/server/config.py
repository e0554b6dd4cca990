"""Limits, lifetimes and fault switches of the local server; all configurable."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from boxzipfs.models import MAX_FILES_PER_ARCHIVE

GiB = 1 << 30
# stored: entries stored, sizes and CRC in the local headers (what the server always built);
# deflate: entries deflated, sizes and CRC in data descriptors after the data, as a
# streaming writer produces. Box documents neither, so readers must take both.
ARCHIVE_FORMATS = ("stored", "deflate")


@dataclass(frozen=True)
class InjectedError:
    """An error answer to inject: ``status`` with optional ``Retry-After``, ``count`` times."""

    status: int
    retry_after: float | None = None
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> InjectedError:
        """Parse ``STATUS[:RETRY_AFTER][xCOUNT]``, for example ``429:2x3``."""
        match = re.fullmatch(r"(\d{3})(?::(\d+(?:\.\d+)?))?(?:x(\d+))?", text)
        if not match:
            raise ValueError(f"{text!r} is not STATUS[:RETRY_AFTER][xCOUNT]")
        status, retry, count = match.groups()
        return cls(int(status), float(retry) if retry else None, int(count or 1))


@dataclass
class Faults:
    """Misbehaviour switched on for tests; changeable at run time."""

    cut_after: int | None = None
    cut_times: int | None = None  # cut only this many more streams (None: every one)
    throttle: float | None = None
    stall_after: int | None = None
    stall_seconds: float = 0.0
    create_errors: list[InjectedError] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)  # glob patterns of paths archives skip

    def take_cut(self) -> int | None:
        """The offset to cut the stream now starting at, if it is to be cut (counts cut_times down)."""
        if self.cut_after is None or self.cut_times == 0:
            return None
        if self.cut_times is not None:
            self.cut_times -= 1
        return self.cut_after

    def take_create_error(self) -> InjectedError | None:
        """Consume one injected create error, if any is pending."""
        if not self.create_errors:
            return None
        head = self.create_errors[0]
        if head.count <= 1:
            self.create_errors.pop(0)
        else:
            self.create_errors[0] = InjectedError(head.status, head.retry_after, head.count - 1)
        return head

    def to_json(self) -> dict[str, object]:
        return {
            "cut_after": self.cut_after,
            "cut_times": self.cut_times,
            "throttle": self.throttle,
            "stall_after": self.stall_after,
            "stall_seconds": self.stall_seconds,
            "create_errors": [
                {"status": e.status, "retry_after": e.retry_after, "count": e.count}
                for e in self.create_errors
            ],
            "skip": list(self.skip),
        }

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> Faults:
        """Faults from the JSON of ``PUT /_boxzipfs/faults``; ValueError if malformed."""
        errors = obj.get("create_errors") or []
        skip = obj.get("skip") or []
        if not isinstance(skip, list) or not all(isinstance(p, str) for p in skip):
            raise ValueError("skip must be a list of path patterns")
        if not isinstance(errors, list) or not all(isinstance(e, dict) for e in errors):
            raise ValueError("create_errors must be a list of {status, retry_after, count}")
        return cls(
            cut_after=_opt_int(obj.get("cut_after")),
            cut_times=_opt_int(obj.get("cut_times")),
            throttle=_opt_float(obj.get("throttle")),
            stall_after=_opt_int(obj.get("stall_after")),
            stall_seconds=_opt_float(obj.get("stall_seconds")) or 0.0,
            create_errors=[
                InjectedError(int(e["status"]), _opt_float(e.get("retry_after")), int(e.get("count", 1)))
                for e in errors
            ],
            skip=list(skip),
        )


def _opt_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number")
    return int(value)


def _opt_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


@dataclass
class ServerConfig:
    """Everything the server's behaviour depends on besides the folder it serves."""

    max_files: int = MAX_FILES_PER_ARCHIVE
    max_bytes: int = 32 * GiB
    user_concurrency: int = 5
    enterprise_concurrency: int = 10
    url_ttl: float = 30.0
    status_ttl: float = 12 * 3600.0
    token_ttl: float = 3600.0
    chunk_size: int = 1 << 20
    archive_format: str = "stored"  # or "deflate"; see ARCHIVE_FORMATS
    api_rate_limit: int | None = None  # API calls per user per minute (429 rate_limit_exceeded)
    api_burst_limit: int | None = None  # ... and per second
    redirect_content: bool = False  # content GETs answer 302 to the same path on a second listener
    content_url: str | None = None  # that listener's URL (set when it is bound)
    clock_offset: float = 0.0  # seconds this server's clock runs ahead (JWT checks, Date headers)
    faults: Faults = field(default_factory=Faults)

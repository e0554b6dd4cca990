"""The one errno table: Box's answers, local refusals and system limits, each to its errno."""

from __future__ import annotations

import errno

import pytest

from boxzipfs.drive.errnos import errno_for, exhausted
from boxzipfs.errors import (
    ArchiveIncomplete,
    DiskFull,
    Forbidden,
    LimitExceeded,
    NotFound,
    QueueTimeout,
    Refused,
    RequestInvalid,
    TooManyRequests,
    Unauthorized,
)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (Unauthorized(401, "unauthorized", "no"), errno.EACCES),
        (Forbidden(403, "forbidden", "no"), errno.EACCES),
        (NotFound(404, "not_found", "no"), errno.ENOENT),
        (LimitExceeded(400, "zip_download_limit", "too big"), errno.EFBIG),
        (RequestInvalid("bad"), errno.EINVAL),
        (TooManyRequests(429, "rate_limited", "later"), errno.EAGAIN),
        (QueueTimeout("waited"), errno.EAGAIN),
        (DiskFull("full"), errno.ENOSPC),
        (ArchiveIncomplete("short"), errno.EIO),
        (Refused(errno.EROFS, "read-only"), errno.EROFS),
        (OSError(errno.EMFILE, "Too many open files"), errno.EMFILE),
        (OSError(errno.ENFILE, "Too many open files in system"), errno.ENFILE),
        (OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC),
        (OSError(errno.EACCES, "Permission denied"), errno.EIO),  # below the skin: unexpected
        (ValueError("a bug"), errno.EIO),
    ],
)
def test_each_error_has_its_errno(exc: BaseException, code: int) -> None:
    assert errno_for(exc) == code


def test_only_system_limits_count_as_exhausted() -> None:
    assert exhausted(OSError(errno.EMFILE, "x")) == errno.EMFILE
    assert exhausted(OSError(errno.ENOENT, "x")) is None
    assert exhausted(RuntimeError("x")) is None

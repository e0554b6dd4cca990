"""The one table from boxzipfs errors to the errno a reader of the mount sees."""

from __future__ import annotations

import errno

from boxzipfs.errors import (
    AuthError,
    BadRequest,
    BoxZipError,
    DiskFull,
    Forbidden,
    LimitExceeded,
    NotFound,
    QueueTimeout,
    Refused,
    RequestInvalid,
    RequestTooLarge,
    TooManyRequests,
    Unauthorized,
)

# Most specific first: the first matching class wins.
ERRNO_TABLE: tuple[tuple[type[BaseException], int], ...] = (
    (Unauthorized, errno.EACCES),
    (Forbidden, errno.EACCES),
    (AuthError, errno.EACCES),
    (NotFound, errno.ENOENT),
    (LimitExceeded, errno.EFBIG),
    (RequestTooLarge, errno.EFBIG),
    (BadRequest, errno.EINVAL),
    (RequestInvalid, errno.EINVAL),
    (QueueTimeout, errno.EAGAIN),
    (TooManyRequests, errno.EAGAIN),
    (DiskFull, errno.ENOSPC),
    (BoxZipError, errno.EIO),  # network, 5xx after retries, broken streams, skips, spool errors
)


# The system's limits, answered as themselves (a reader sees "Too many open files", not an
# I/O error): descriptors, memory, disk and quota, wherever below the skin they run out.
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOSPC, errno.EDQUOT})


def exhausted(exc: BaseException) -> int | None:
    """The errno of an ``OSError`` that says a system limit ran out; None for anything else."""
    if isinstance(exc, OSError) and exc.errno in EXHAUSTED:
        return exc.errno
    return None


def errno_for(exc: BaseException) -> int:
    """The errno for ``exc``; anything unexpected is EIO."""
    if isinstance(exc, Refused):
        return exc.errno
    code = exhausted(exc)
    if code is not None:
        return code
    for cls, code in ERRNO_TABLE:
        if isinstance(exc, cls):
            return code
    return errno.EIO

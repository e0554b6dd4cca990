"""The one exception hierarchy of boxzipfs.

    BoxZipError
    ├── RequestInvalid          a zip request (request.json, CLI items) is malformed
    │   └── RequestTooLarge     more items or bytes than allowed
    ├── BoxAPIError             Box answered with an error (status, code, message, request_id)
    │   ├── BadRequest          400
    │   │   └── LimitExceeded   400 zip_download_*_exceeded_limit
    │   ├── Unauthorized        401
    │   ├── Forbidden           403
    │   ├── NotFound            404
    │   ├── TooManyRequests     429 (carries retry_after)
    │   └── ServerError         5xx
    ├── AuthError               the token endpoint refused us, or no credentials are configured
    ├── NetworkError            the transport failed (connect, read, protocol)
    │   ├── UntrustedServer     TLS: the server's certificate is not trusted
    │   └── StreamBroken        a zip content stream ended before its true end
    ├── DownloadUrlUsed         a one-shot download URL was asked for a second time
    ├── ArchiveIncomplete       the archive ended but Box skipped items or failed it
    ├── QueueTimeout            waited past the deadline for a download slot (429s)
    ├── Abandoned               every reader left before the end; the download was stopped
    ├── ShuttingDown            the mount is stopping; downloads still running end with it
    ├── Cancelled               a wait for a download slot ended (cancel, shutdown)
    ├── SpoolError              the disk spool could not be created or written
    │   └── DiskFull            ... because the disk is full
    ├── FleetUnreachable        Redis did not answer a read of the fleet's state
    ├── FleetRefused            Redis refused the mount's credentials or rights
    ├── MountError              a mount cannot start (mountpoint in use, directories owned, credentials)
    └── Refused                 a filesystem-level refusal that names its errno (EBUSY, EEXIST)

Messages never contain tokens or download URLs: they are built from Box's own fields.
"""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=BaseException)


def again(exc: E) -> E:
    """A copy of ``exc`` to raise once more (in another thread, to another reader).

    One instance raised in many threads grows its traceback with each raise and
    shares it between them; each raise gets its own copy, with the same cause.
    """
    copy = exc.__class__.__new__(exc.__class__, *exc.args)
    copy.__dict__.update(exc.__dict__)
    copy.__cause__ = exc.__cause__
    copy.__suppress_context__ = exc.__suppress_context__
    return copy


class BoxZipError(Exception):
    """Base of every error boxzipfs raises on purpose."""


class RequestInvalid(BoxZipError, ValueError):
    """A zip request does not follow the schema."""


class RequestTooLarge(RequestInvalid):
    """A zip request has more items, or is bigger, than allowed."""


class BoxAPIError(BoxZipError):
    """An error answer from the Box API, with Box's own fields."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(f"Box answered {status} {code}: {message} (request_id {request_id or '-'})")

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "request_id": self.request_id,
        }


class BadRequest(BoxAPIError):
    """400 from Box."""


class LimitExceeded(BadRequest):
    """400: the archive would exceed the file-count or byte limit."""


class Unauthorized(BoxAPIError):
    """401 from Box."""


class Forbidden(BoxAPIError):
    """403 from Box."""


class NotFound(BoxAPIError):
    """404 from Box."""


class TooManyRequests(BoxAPIError):
    """429 from Box; ``retry_after`` holds its Retry-After in seconds when sent."""


class ServerError(BoxAPIError):
    """5xx from Box."""


class AuthError(BoxZipError):
    """Credentials are missing or the token endpoint refused them."""


class NetworkError(BoxZipError):
    """The HTTP transport failed."""


class UntrustedServer(NetworkError):
    """TLS: the server's certificate does not verify against the trust store (and --ca-file)."""


class StreamBroken(NetworkError):
    """A content stream ended before the archive did; its bytes cannot be fetched again."""


class DownloadUrlUsed(BoxZipError):
    """The one-shot download URL of a zip download was already requested."""


class ArchiveIncomplete(BoxZipError):
    """The archive arrived, but Box skipped items or reported failure."""


class ArchiveChanged(ArchiveIncomplete):
    """A resumed stream's bytes differ from those already received: never spliced."""


class QueueTimeout(BoxZipError):
    """Box kept answering 429 past the configured deadline."""


class Abandoned(BoxZipError):
    """Every reader closed before the end and none came back within the grace period."""


class ShuttingDown(BoxZipError):
    """The mount is being unmounted: an unfinished download ends with it (not a failure of Box's)."""


class Cancelled(BoxZipError):
    """A waiter gave up its place in the download queue (cancelled, or the queue closed)."""


class SpoolError(BoxZipError):
    """The disk spool of a download could not be created or written."""


class DiskFull(SpoolError):
    """The spool's disk is full."""


class FleetUnreachable(BoxZipError):
    """Redis did not answer a read of the fleet's state."""


class FleetRefused(BoxZipError):
    """Redis refused the mount (wrong password, a user without rights): never silently alone."""


class MountError(BoxZipError):
    """A mount cannot start; the message says why and what to do."""


LIMIT_CODES = frozenset(
    {"zip_download_file_count_exceeded_limit", "zip_download_pre_compressed_bytes_exceeded_limit"}
)


def api_error(
    status: int, code: str, message: str, request_id: str = "", retry_after: float | None = None
) -> BoxAPIError:
    """Build the BoxAPIError subclass that matches an HTTP status and Box code."""
    cls: type[BoxAPIError]
    if status == 400:
        cls = LimitExceeded if code in LIMIT_CODES else BadRequest
    elif status == 401:
        cls = Unauthorized
    elif status == 403:
        cls = Forbidden
    elif status == 404:
        cls = NotFound
    elif status == 429:
        cls = TooManyRequests
    elif status >= 500:
        cls = ServerError
    else:
        cls = BoxAPIError
    return cls(status, code, message, request_id, retry_after)


class Refused(BoxZipError):
    """A filesystem-level refusal that carries its own errno (EBUSY, EEXIST, ENOENT)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.errno = code

"""Box's answers read the same way whichever client received them (httpx or libcurl):
an error answer's BoxAPIError, Retry-After, a Content-Disposition's file name."""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

import httpx

from boxzipfs.errors import BoxAPIError, UntrustedServer, api_error


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_from_parts(status: int, headers: dict[str, str], content: bytes) -> BoxAPIError:
    """The BoxAPIError for an answer's status, headers (lower-case names) and body."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    reason = httpx.codes.get_reason_phrase(status)
    return api_error(
        status,
        str(body.get("code") or reason.lower().replace(" ", "_") or "error"),
        str(body.get("message") or reason or "no message"),
        str(body.get("request_id") or ""),
        parse_retry_after(headers.get("retry-after")),
    )


def disposition_name(header: str) -> str | None:
    """The file name of a Content-Disposition (RFC 6266): ``filename*`` (UTF-8) if given,
    else ``filename``."""
    plain = None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename*" and value.lower().startswith("utf-8''"):
            return unquote(value[7:]) or None
        if key.lower() == "filename":
            plain = value.strip('"') or None
    return plain


def untrusted(operation: str) -> UntrustedServer:
    """The one-line error for a server whose certificate did not verify, from either client."""
    return UntrustedServer(
        f"{operation} failed: the server's TLS certificate is not trusted "
        "(CERTIFICATE_VERIFY_FAILED); install its CA in the system's trust store or give it "
        "with --ca-file"
    )

"""A logging filter that keeps secrets out of HTTP libraries' log lines.

httpx logs each request's URL at INFO; a zip download URL needs no auth, so it
is a secret. The filter masks zip-download IDs and bearer tokens.
"""

from __future__ import annotations

import logging
import re

_ZIP_ID = re.compile(r"(/zip_downloads/)[^/\s\"']+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"']+")


def redact(text: str) -> str:
    return _BEARER.sub(r"\1***", _ZIP_ID.sub(r"\1***", text))


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


_FILTER = RedactFilter()


def install() -> None:
    """Attach the filter to the HTTP libraries' loggers (idempotent)."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)

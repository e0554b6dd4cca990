"""Log lines for collectors: ``--log-format json`` writes one JSON object per line.

A download's thread binds its request name, its download ID and a way to read
its phase; every line it logs (from any layer) carries them as fields, and a
line logged elsewhere may pass them as ``extra``. Messages never hold secrets
(the client's redaction keeps URLs and tokens out of them), so the JSON form
holds none either.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

FIELDS = ("request", "download", "phase")


@dataclass(frozen=True)
class DownloadFields:
    request: str
    download: str
    phase: Callable[[], str]


_current: ContextVar[DownloadFields | None] = ContextVar("boxzipfs_download", default=None)


def bind(fields: DownloadFields) -> None:
    """Tag this thread's log lines with a download's fields (a download thread does it first)."""
    _current.set(fields)


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, and the download's fields when there are some."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        bound = _current.get()
        if bound is not None:
            body.update(request=bound.request, download=bound.download, phase=bound.phase())
        for name in FIELDS:
            if name in record.__dict__:
                body[name] = record.__dict__[name]
        if record.exc_info and record.exc_info[0] is not None:
            body["error"] = record.exc_info[0].__name__  # the type only: a traceback is no log line
        return json.dumps(body, ensure_ascii=False)

"""``boxzipfs request add|rm``: the same as mkdir + writing request.json, or rmdir,
through the mount itself, so validation and errors are the filesystem's own."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from boxzipfs.drive.definitions import check_name
from boxzipfs.errors import BoxZipError
from boxzipfs.models import RequestSpec


class RequestCommandError(BoxZipError):
    """The mount refused the request; the message says why."""


def _mounted(mountpoint: Path) -> None:
    if not os.path.ismount(mountpoint):
        raise RequestCommandError(f"{mountpoint} is not a mount")


def _refusal(directory: Path, exc: OSError) -> RequestCommandError:
    try:
        reason = json.loads((directory / "status.json").read_text()).get("definition_error")
    except (OSError, ValueError):
        reason = None
    return RequestCommandError(reason or f"{directory}: {os.strerror(exc.errno or errno.EIO)}")


def add_request(mountpoint: Path, name: str, spec: RequestSpec) -> Path:
    """mkdir MOUNTPOINT/NAME (if new) and write its request.json."""
    _mounted(mountpoint)
    directory = mountpoint / check_name(name)
    directory.mkdir(exist_ok=True)
    try:
        with (directory / "request.json").open("wb") as handle:
            handle.write(spec.dumps())
    except OSError as exc:
        raise _refusal(directory, exc) from None
    return directory


def remove_request(mountpoint: Path, name: str) -> None:
    _mounted(mountpoint)
    try:
        (mountpoint / check_name(name)).rmdir()
    except FileNotFoundError:
        raise RequestCommandError(f"no request {name!r} in {mountpoint}") from None
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            raise RequestCommandError(f"request {name!r} is being downloaded or read; try later") from None
        raise RequestCommandError(f"cannot remove {name!r}: {os.strerror(exc.errno or errno.EIO)}") from None


def refresh_request(mountpoint: Path, name: str) -> None:
    """The next read of the request's archive creates a new one (a touch of request.json)."""
    _mounted(mountpoint)
    definition = mountpoint / check_name(name) / "request.json"
    try:
        os.utime(definition)
    except FileNotFoundError:
        raise RequestCommandError(f"no defined request {name!r} in {mountpoint}") from None
    except OSError as exc:
        raise RequestCommandError(f"cannot refresh {name!r}: {os.strerror(exc.errno or errno.EIO)}") from None

"""Command-line values that need more than argparse: declared requests and FUSE options."""

from __future__ import annotations

import json
from pathlib import Path

from boxzipfs.config import request_from_items
from boxzipfs.drive.definitions import check_name
from boxzipfs.errors import RequestInvalid
from boxzipfs.models import RequestSpec, parse_request_spec


def parse_request_option(text: str) -> tuple[str, RequestSpec]:
    """``NAME=folder:1,file:2`` -> (NAME, spec)."""
    name, sep, items = text.partition("=")
    if not sep or not items:
        raise RequestInvalid(f"--request {text!r} is not NAME=folder:ID,file:ID")
    parsed = [item.strip() for item in items.split(",")]
    return check_name(name), request_from_items(parsed, name, allow_skips=False, wait=None)


def load_requests_file(path: Path) -> dict[str, RequestSpec]:
    """A JSON object mapping request names to request.json bodies."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RequestInvalid(f"cannot read requests file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise RequestInvalid(f"{path} must hold a JSON object of NAME: request body")
    return {check_name(n): parse_request_spec(json.dumps(b).encode()) for n, b in data.items()}


def parse_fuse_options(values: list[str]) -> dict[str, str | bool]:
    options: dict[str, str | bool] = {}
    for value in values:
        for part in value.split(","):
            if part:
                key, sep, arg = part.partition("=")
                options[key] = arg if sep else True
    return options

"""Request definitions: the request directories of a mount, persisted atomically.

Each request lives in ``STATE/requests/NAME/``; its definition, when one was
written, in ``request.json`` there. A directory without a definition is a
request being set up (after mkdir, before request.json is written).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

from boxzipfs.atomicfile import atomic_write
from boxzipfs.errors import RequestInvalid
from boxzipfs.models import RequestSpec, parse_request_spec

# No '/', and no control characters: a name is shown on terminals and in log lines, where a
# newline would forge a line and an escape sequence would reach the terminal.
NAME_PATTERN = re.compile(r"[^/\x00-\x1f\x7f-\x9f\u2028\u2029]{1,200}")
RESERVED = frozenset({"by-id", "browse", "archives", ".", ".."})


def check_name(name: str) -> str:
    """A valid request name, or RequestInvalid saying why not."""
    if not NAME_PATTERN.fullmatch(name) or name in RESERVED or name.startswith("."):
        raise RequestInvalid(
            f"{name!r} cannot name a request (no '/', no control characters, no leading '.', "
            "not 'by-id', 'browse' or 'archives')"
        )
    return name


class DefinitionStore:
    """Request names and their definitions on disk, safe for concurrent use."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "requests"
        self.root.mkdir(parents=True, exist_ok=True)
        # Guards _parsed and the request directories' creation and removal.
        self._lock = threading.Lock()
        self._parsed: dict[str, tuple[tuple[int, int], RequestSpec]] = {}

    def names(self) -> list[str]:
        with self._lock:
            return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def exists(self, name: str) -> bool:
        return (self.root / name).is_dir()

    def create(self, name: str) -> None:
        """Make an empty request directory; FileExistsError if it exists."""
        check_name(name)
        with self._lock:
            (self.root / name).mkdir()

    def remove(self, name: str) -> None:
        with self._lock:
            shutil.rmtree(self.root / name)

    def clear(self, name: str) -> bool:
        """Remove the definition and keep the directory; False if there was none."""
        with self._lock:
            self._parsed.pop(name, None)
            try:
                (self.root / name / "request.json").unlink()
            except FileNotFoundError:
                return False
            return True

    def get(self, name: str) -> RequestSpec | None:
        """The stored definition, or None if the directory has none yet (or is gone).

        Parsed once per version of the file: getattr asks for it on every lookup.
        """
        path = self.root / name / "request.json"
        try:
            st = path.stat()
            version = (st.st_ino, st.st_mtime_ns)  # each atomic write makes a new inode
            cached = self._parsed.get(name)
            if cached is not None and cached[0] == version:
                return cached[1]
            spec = parse_request_spec(path.read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            return None
        self._parsed[name] = (version, spec)
        return spec

    def raw(self, name: str) -> tuple[bytes, int | None]:
        """The stored bytes and their mtime in ns (``b""``, None if there are none)."""
        try:
            with (self.root / name / "request.json").open("rb") as handle:
                return handle.read(), os.fstat(handle.fileno()).st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return b"", None

    def put(self, name: str, spec: RequestSpec, raw: bytes | None = None) -> None:
        """Write a definition atomically (temp file, fsync, rename), creating the directory.

        ``raw`` is what the user wrote (already validated as ``spec``): it is kept as
        written, so request.json reads back byte for byte.
        """
        check_name(name)
        with self._lock:
            (self.root / name).mkdir(exist_ok=True)
            atomic_write(self.root / name / "request.json", spec.dumps() if raw is None else raw, 0o644)

"""Test helpers: source trees and archive comparison."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx


def make_tree(root: Path) -> dict[str, bytes]:
    """A small tree with nesting, an empty folder, unicode and binary data; returns rel -> bytes."""
    files = {
        "docs/readme.txt": b"hello box\n",
        "docs/nested/deep/note.md": "# ünïcode\n".encode(),
        "docs/nested/data.bin": os.urandom(300_000),
        "photos/a.jpg": os.urandom(70_000),
        "photos/b.jpg": b"",
        "top.txt": b"top level file\n",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "docs" / "empty").mkdir()
    return files


def file_id(root: Path, rel: str) -> str:
    return str((root / rel).stat().st_ino)


def zip_contents(data: bytes | Path) -> dict[str, bytes]:
    """Every member of a zip (folders as b''), after zipfile's CRC check."""
    source: io.BytesIO | Path = io.BytesIO(data) if isinstance(data, bytes) else data
    with zipfile.ZipFile(source) as archive:
        assert archive.testzip() is None
        return {info.filename: archive.read(info) for info in archive.infolist()}


def expected_members(root: Path, rel_folder: str, top: str | None = None) -> dict[str, bytes]:
    """What an archive of folder ``rel_folder`` holds: the folder and everything under it."""
    base = root / rel_folder
    top = top or base.name
    out: dict[str, bytes] = {f"{top}/": b""}
    for dirpath, dirnames, filenames in os.walk(base):
        rel_dir = Path(dirpath).relative_to(base)
        for name in dirnames:
            out[f"{top}/{(rel_dir / name).as_posix()}/"] = b""
        for name in filenames:
            out[f"{top}/{(rel_dir / name).as_posix()}"] = (Path(dirpath) / name).read_bytes()
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create(http: httpx.Client, url: str, token: str, body: object) -> httpx.Response:
    return http.post(f"{url}/2.0/zip_downloads", json=body, headers=bearer(token))


OAUTH_CLIENT = {"client_id": "cid", "client_secret": "cs", "user_id": "7", "enterprise_id": "500"}


def write_users(path: Path, users: list[dict[str, object]] | None = None, clients: bool = False) -> Path:
    """A server users file; ``clients`` adds the OAuth client cid/cs (user 7, enterprise 500)."""
    path.write_text(json.dumps({"users": users or [], "clients": [OAUTH_CLIENT] if clients else []}))
    return path


def boxzipfs(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """Run the ``boxzipfs`` command as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "boxzipfs", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip

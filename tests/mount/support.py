"""Helpers shared by the mount tests: define requests, read status, run tools."""

from __future__ import annotations

import filecmp
import json
import subprocess
from pathlib import Path

from tests.helpers import file_id


def define(mountpoint: Path, name: str, body: dict[str, object]) -> Path:
    (mountpoint / name).mkdir()
    (mountpoint / name / "request.json").write_text(json.dumps(body))
    return mountpoint / name


def folder_items(root: Path, *rels: str) -> list[dict[str, str]]:
    return [{"type": "folder", "id": file_id(root, rel)} for rel in rels]


def status(directory: Path) -> dict[str, object]:
    return dict(json.loads((directory / "status.json").read_text()))


def run(*cmd: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, check=False, cwd=cwd, timeout=300)


def assert_tree_equal(extracted: Path, source: Path) -> None:
    comparison = filecmp.dircmp(extracted, source)
    assert not comparison.left_only and not comparison.right_only, (
        comparison.left_only,
        comparison.right_only,
    )
    _, mismatch, errors = filecmp.cmpfiles(extracted, source, comparison.common_files, shallow=False)
    assert not mismatch and not errors
    for sub in comparison.common_dirs:
        assert_tree_equal(extracted / sub, source / sub)

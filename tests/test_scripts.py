"""The README's scripts run: the demo end to end, and the benchmarks at a small size."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.mount


def run(*cmd: str) -> str:
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_demo_streams_and_verifies_an_archive() -> None:
    out = run("scripts/demo")
    assert "identical" in out
    assert '"phase": "succeeded"' in out
    assert "demo finished" in out


def test_benchmarks_print_their_figures() -> None:
    server = run("scripts/bench-server", "--size-mib", "64", "--files", "4")
    assert "archive MB/s" in server and "ratio" in server
    mount = run("scripts/bench", "--size-mib", "64", "--runs", "1", "--skip-rss")
    assert "mount dd MB/s" in mount and "TTFB" in mount

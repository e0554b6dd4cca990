"""The README's scripts run: the demo end to end, and the benchmarks at a small size."""

from __future__ import annotations

import os
import subprocess
import zipfile
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


def test_demo_fails_when_its_check_fails(tmp_path: Path) -> None:
    """A folder whose archive cannot match it (a link that leads outside is never served)."""
    source, outside = tmp_path / "box", tmp_path / "outside"
    source.mkdir()
    outside.mkdir()
    (source / "kept.txt").write_text("kept\n")
    (outside / "secret.txt").write_text("never served\n")
    (source / "escape").symlink_to(outside)
    done = subprocess.run(
        ["scripts/demo", str(source)], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode != 0
    assert "differs from" in done.stderr
    assert "demo finished" not in done.stdout


def test_benchmarks_print_their_figures() -> None:
    server = run("scripts/bench-server", "--size-mib", "64", "--files", "4")
    assert "archive MB/s" in server and "ratio" in server
    mount = run("scripts/bench", "--size-mib", "64", "--runs", "1", "--skip-rss")
    assert "dd MB/s, mount / httpx" in mount and "TTFB, mount / httpx" in mount
    assert "CPU per GiB, spool reused / httpx client" in mount and "a stream sent at 150 MB/s" in mount
    tls = run("scripts/bench", "--size-mib", "64", "--runs", "1", "--skip-rss", "--https")
    assert "over HTTPS" in tls and "dd MB/s, mount / httpx" in tls
    browse = run(
        "scripts/bench-browse", "--files", "40", "--size-mib", "32", "--runs", "1", "--rss-files", "300"
    )
    assert "files/s, cp -r browse / zip + extract" in browse
    assert "RSS through a cp -r of 300 files of 4 KiB" in browse and "every file byte-exact" in browse
    assert "MB/s, browse file / folder archive" in browse
    split = run(
        "scripts/bench-split", "--files", "60", "--size-mib", "16", "--part-files", "20", "--runs", "1"
    )
    assert "MB/s, joined / single archive" in split and "daemon CPU per GiB, joined / single" in split


def test_the_api_budget_check_meets_no_429() -> None:
    out = run("scripts/check-api-budget", "30")
    assert out.count("429s answered 0") == 2 and out.count("byte-exact True") == 2, out


def test_readme_quick_start_runs_literally(tmp_path: Path) -> None:
    """The README's quick-start block, with /tmp/ moved to a private directory."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start on the embedded local server", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    script = block.replace("/tmp/", f"{tmp_path}/")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    mnt = tmp_path / "mnt"
    if os.path.ismount(mnt):
        subprocess.run(["fusermount", "-u", "-z", str(mnt)], check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "reports/q1.txt" in done.stdout
    assert '"phase": "succeeded"' in done.stdout
    with zipfile.ZipFile(tmp_path / "reports.zip") as archive:
        assert archive.read("reports/q1.txt") == b"quarterly numbers\n"


def test_chaos_prints_its_figures_and_its_verdict() -> None:
    out = run("scripts/chaos", "--only", "R2,disk")
    assert "R2 bad input" in out and "definition_intact: 1000" in out
    assert "disk full" in out and "2 of 2 scenarios kept every promise" in out

"""The mount's life: who owns its directories, second mounts, dead mounts,
credentials at mount time, and one-line failures instead of tracebacks."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from boxzipfs.mount.paths import mount_key
from boxzipfs.server.child import LocalServer
from tests.helpers import boxzipfs, expected_members, zip_contents
from tests.mount.support import define, folder_items, status
from tests.mounting import mounted

pytestmark = pytest.mark.mount


def one_line(stderr: str) -> str:
    """The user sees one clear line: no traceback, no noise."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("boxzipfs: "), stderr
    return lines[0]


def test_a_second_mount_on_a_mounted_path_is_refused_and_the_live_mount_keeps_working(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    root, _ = tree
    mp, state, cache = tmp_path / "m", tmp_path / "state", tmp_path / "cache"
    dirs = ["--state-dir", str(state), "--cache-dir", str(cache)]
    with mounted(mp, ["--local", str(root), "--reuse-seconds", "60", *dirs], tmp_path / "log"):
        request = define(mp, "docs", {"items": folder_items(root, "docs")})
        assert zip_contents((request / "request.zip").read_bytes()) == expected_members(root, "docs")
        spools = sorted(cache.glob("*.spool"))
        assert spools

        for args in (["--local", str(root), *dirs], ["--local", str(root), "--foreground"]):
            again = boxzipfs("mount", mp, *args)
            assert again.returncode != 0
            assert "already mounted" in one_line(again.stderr)

        other = tmp_path / "other"
        other.mkdir()
        for foreground in ([], ["--foreground"]):
            same_dirs = boxzipfs("mount", other, "--local", root, *dirs, *foreground)
            assert same_dirs.returncode != 0
            assert f"in use by the mount at {mp}" in one_line(same_dirs.stderr)
            assert not os.path.ismount(other)

        assert sorted(cache.glob("*.spool")) == spools  # nothing of the live mount was touched
        assert os.listdir(mp) == ["by-id", "browse", "archives", "docs"]
        (root / "docs" / "later.txt").write_text("a new file, so the next archive differs\n")
        fresh = define(mp, "fresh", {"items": folder_items(root, "docs")})
        assert zip_contents((fresh / "request.zip").read_bytes()) == expected_members(root, "docs")
        assert status(fresh)["phase"] == "succeeded" and status(fresh)["error"] is None


def test_distinct_mountpoints_get_distinct_default_directories(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    assert mount_key(Path("/x/c_d")) != mount_key(Path("/x/c/d"))
    root, _ = tree
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg-state"), "XDG_CACHE_HOME": str(tmp_path / "xdg-cache")}
    flat, nested = tmp_path / "c_d", tmp_path / "c" / "d"
    with mounted(flat, ["--local", str(root)], tmp_path / "flat.log", env):
        with mounted(nested, ["--local", str(root)], tmp_path / "nested.log", env):
            define(flat, "only-here", {"items": folder_items(root, "docs")})
            assert os.listdir(nested) == ["by-id", "browse", "archives"]
            request = define(nested, "photos", {"items": folder_items(root, "photos")})
        assert not os.path.ismount(nested)
        assert sorted(os.listdir(flat)) == ["archives", "browse", "by-id", "only-here"]
        zipped = (flat / "only-here" / "request.zip").read_bytes()
        assert zip_contents(zipped) == expected_members(root, "docs")
    states = sorted(p.name for p in (tmp_path / "xdg-state" / "boxzipfs" / "mounts").iterdir())
    assert states == sorted([mount_key(flat), mount_key(nested)])
    assert request.name == "photos"


def test_a_dead_mount_is_cleaned_up_by_the_next_mount_keeping_definitions(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    root, _ = tree
    mp, state, cache = tmp_path / "m", tmp_path / "state", tmp_path / "cache"
    dirs = ["--state-dir", str(state), "--cache-dir", str(cache)]
    process = subprocess.Popen(
        [sys.executable, "-m", "boxzipfs", "mount", str(mp), "--foreground", "--local", str(root), *dirs],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    mp.mkdir()
    try:
        deadline = time.monotonic() + 20
        while not os.path.ismount(mp):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        request = define(mp, "docs", {"items": folder_items(root, "docs")})
        (request / "request.zip").read_bytes()
        assert list(cache.glob("*.spool"))
        process.kill()
        process.wait()
        with pytest.raises(OSError) as dead:
            os.stat(mp)
        assert dead.value.errno == errno.ENOTCONN

        again = boxzipfs("mount", mp, "--local", root, *dirs)
        assert again.returncode == 0, again.stderr
        assert "cleaned up a dead mount" in again.stderr and "Traceback" not in again.stderr
        assert os.listdir(mp) == ["by-id", "browse", "archives", "docs"]  # the definition survived
        assert not list(cache.glob("*.spool"))  # the killed run's spool is gone
        assert zip_contents((mp / "docs" / "request.zip").read_bytes()) == expected_members(root, "docs")
    finally:
        if process.poll() is None:
            process.kill()
        subprocess.run(["fusermount", "-u", "-z", str(mp)], capture_output=True, check=False)
        time.sleep(0.2)


def test_refused_credentials_fail_the_mount_and_an_unreachable_box_only_warns(
    server: LocalServer, tmp_path: Path
) -> None:
    mp = tmp_path / "m"
    mp.mkdir()
    dirs = ["--state-dir", str(tmp_path / "state"), "--cache-dir", str(tmp_path / "cache")]
    refused = boxzipfs("mount", mp, "--api-url", server.url, *dirs, env={"BOX_ACCESS_TOKEN": "not-a-token"})
    assert refused.returncode == 1
    assert "Box refused the credentials" in one_line(refused.stderr)
    assert "not-a-token" not in refused.stderr
    assert not os.path.ismount(mp)

    unreachable = boxzipfs(
        "mount", mp, "--api-url", "http://127.0.0.1:9", *dirs, env={"BOX_ACCESS_TOKEN": "t"}
    )
    try:
        assert unreachable.returncode == 0, unreachable.stderr
        assert "warning: could not check the credentials" in unreachable.stderr
        assert os.path.ismount(mp)
    finally:
        subprocess.run(["fusermount", "-u", str(mp)], capture_output=True, check=False)


def test_failures_are_one_line_never_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    for args in (
        ["ls", "--local", missing],
        ["serve", "--root", missing],
        ["mount", tmp_path / "no-mountpoint", "--local", tmp_path],
        ["mount", tmp_path, "--local", missing],
        ["request", "add", tmp_path, "x", "folder:1"],
        ["status", tmp_path, "--once"],
        ["mount", tmp_path, "--config", missing],
    ):
        done = boxzipfs(*args)
        assert done.returncode != 0, args
        one_line(done.stderr)


def test_background_mount_reports_libfuse_refusing_the_mountpoint(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    """A mountpoint that is a file: the daemon's real failure, not a timeout or a false success."""
    root, _ = tree
    target = tmp_path / "file"
    target.write_text("x")
    done = boxzipfs("mount", target, "--local", root, "--state-dir", tmp_path / "s")
    assert done.returncode != 0
    assert "not a directory" in one_line(done.stderr)


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_a_spool_that_cannot_be_created_shows_in_status_and_the_log(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    import shutil

    root, _ = tree
    mp, cache, log = tmp_path / "m", tmp_path / "cache", tmp_path / "log"
    with mounted(
        mp, ["--local", str(root), "--state-dir", str(tmp_path / "s"), "--cache-dir", str(cache)], log
    ):
        request = define(mp, "docs", {"items": folder_items(root, "docs")})
        shutil.rmtree(cache)  # someone cleans ~/.cache under a live mount
        with pytest.raises(OSError) as failed:
            (request / "request.zip").read_bytes()
        assert failed.value.errno == errno.EIO
        error = status(request)["error"]
        assert error["errno"] == "EIO"  # type: ignore[index]
        assert error["message"] == "cannot create the spool: No such file or directory"  # type: ignore[index]
    assert "cannot create the spool: No such file or directory" in log.read_text()


def test_the_log_holds_only_boxzipfs_lines(tree: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    """libfuse3 3.14 prints 'Ignoring invalid max threads value 4294967295' on every mount
    unless max_idle_threads is set; a log is for the user, not for library noise."""
    root, _ = tree
    log = tmp_path / "log"
    with mounted(tmp_path / "mnt", ["--local", str(root), "--state-dir", str(tmp_path / "st")], log):
        request = define(tmp_path / "mnt", "docs", {"items": folder_items(root, "docs")})
        assert zip_contents((request / "request.zip").read_bytes()) == expected_members(root, "docs")
    lines = log.read_text().splitlines()
    assert lines and all(
        re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ boxzipfs\.", x) for x in lines
    ), lines

"""#18.10: unmount waits for the daemon; a killed mount's spools are cleaned by the next
mount of any path; a joined archive's status counts the whole; warnings for a non-empty
mountpoint and a cache larger than its filesystem."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import boxzipfs
from tests.mounting import is_mounted

pytestmark = pytest.mark.mount


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped (its locks are gone then)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_unmount_then_mount_again_at_once_always_works(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    root, _ = tree
    mp = tmp_path / "mnt"
    mp.mkdir()
    args = ["--local", root, "--state-dir", tmp_path / "st", "--cache-dir", tmp_path / "c"]
    try:
        for _ in range(5):
            mounted = boxzipfs("mount", mp, *args)
            assert mounted.returncode == 0, mounted.stderr
            assert (mp / "browse" / "top.txt").read_bytes() == b"top level file\n"
            gone = boxzipfs("unmount", mp)
            assert gone.returncode == 0, gone.stderr
            lock = (tmp_path / "st" / ".lock").read_text()
            pid = int(lock.rsplit("pid ", 1)[1].rstrip(")\n"))
            assert not running(pid), "unmount returned before the daemon ended"
    finally:
        if is_mounted(mp):
            subprocess.run(["fusermount", "-u", "-z", str(mp)], check=False)


def test_a_killed_mounts_spools_are_removed_by_the_next_mount_of_any_path(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    root, _ = tree
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache-home"), "XDG_STATE_HOME": str(tmp_path / "state-home")}
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    assert boxzipfs("mount", first, "--local", root, env=env).returncode == 0
    try:
        (first / "x").mkdir()
        (first / "x" / "request.json").write_text(
            json.dumps({"items": [{"type": "folder", "id": str((root / "docs").stat().st_ino)}]})
        )
        assert (first / "x" / "request.zip").read_bytes()
        bases = list((tmp_path / "cache-home" / "boxzipfs").iterdir())
        assert len(bases) == 1 and list(bases[0].glob("*.spool"))
        lock = (tmp_path / "state-home" / "boxzipfs" / "mounts").glob("*/.lock")
        pid = int(next(lock).read_text().rsplit("pid ", 1)[1].rstrip(")\n"))
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    finally:
        subprocess.run(["fusermount", "-u", "-z", str(first)], check=False)
    done = boxzipfs("mount", second, "--local", root, env=env)
    try:
        assert done.returncode == 0, done.stderr
        assert not list(bases[0].glob("*.spool")), "a dead mount's spools were left behind"
    finally:
        boxzipfs("unmount", second)


def test_mounting_over_files_and_a_cache_larger_than_its_disk_warn(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    root, _ = tree
    mp = tmp_path / "mnt"
    mp.mkdir()
    (mp / "hidden.txt").write_text("covered by the mount\n")
    done = boxzipfs(
        "mount", mp, "--local", root, "--state-dir", tmp_path / "st", "--cache-dir", tmp_path / "c",
        "--cache-size", "1000T",
    )  # fmt: skip
    try:
        assert done.returncode == 0, done.stderr
        assert "not empty" in done.stderr and "hidden" in done.stderr
        assert "larger than the free space" in done.stderr or "larger than the filesystem" in done.stderr
    finally:
        boxzipfs("unmount", mp)


def test_bootstrap_leaves_a_link_of_another_checkout_and_says_so(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "link-command"
    mine, other = tmp_path / "mine", tmp_path / "other"
    mine.write_text("#!/bin/sh\n")
    other.write_text("#!/bin/sh\n")
    link = tmp_path / "boxzipfs"

    def link_to(target: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), str(link), str(target)], capture_output=True, text=True, check=True
        )

    assert link_to(mine).stderr == "" and link.resolve() == mine  # made when missing
    assert link_to(mine).stderr == ""  # already ours: nothing to say
    said = link_to(other)
    assert link.resolve() == mine and "left as it is" in said.stderr  # another checkout's: kept
    mine.unlink()
    said = link_to(other)
    assert link.resolve() == other and "which is gone" in said.stderr  # a dangling one is taken


def test_config_show_applies_the_environment(tmp_path: Path) -> None:
    shown = boxzipfs(
        "config", "show",
        env={"BOX_ACCESS_TOKEN": "env-secret-token", "BOX_CLIENT_ID": "env-client",
             "BOXZIPFS_REDIS_URL": "redis://:pw-in-env@127.0.0.1:1/0"},
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    settings = json.loads(shown.stdout)
    assert settings["client_id"] == "env-client"
    assert settings["access_token"] == "***"
    assert settings["redis_url"] == "redis://:***@127.0.0.1:1/0"
    assert "env-secret-token" not in shown.stdout and "pw-in-env" not in shown.stdout

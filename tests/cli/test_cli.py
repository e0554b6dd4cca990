"""The day-one commands against real mounts: request, status, ls, config, fstab, systemd."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from boxzipfs.server.child import LocalServer
from tests.conftest import StartServer
from tests.helpers import boxzipfs, expected_members, file_id, zip_contents

pytestmark = pytest.mark.mount
REPO = Path(__file__).resolve().parents[2]


def test_request_add_and_rm(tree: tuple[Path, dict[str, bytes]], mount) -> None:
    root, files = tree
    mp = mount("--local", str(root))
    docs, top = f"folder:{file_id(root, 'docs')}", f"file:{file_id(root, 'top.txt')}"
    added = boxzipfs("request", "add", mp, "both", docs, top, "--name", "Both", "--allow-skips")
    assert added.returncode == 0, added.stderr
    definition = json.loads((mp / "both" / "request.json").read_text())
    assert definition["download_file_name"] == "Both" and definition["allow_skips"] is True
    members = zip_contents((mp / "both" / "request.zip").read_bytes())
    assert members == expected_members(root, "docs") | {"top.txt": files["top.txt"]}

    bad_item = boxzipfs("request", "add", mp, "bad", "folder:abc")
    assert bad_item.returncode == 1
    assert "is not of the form folder:ID or file:ID" in bad_item.stderr
    bad_name = boxzipfs("request", "add", mp, ".hidden", docs)
    assert bad_name.returncode == 1 and "cannot name a request" in bad_name.stderr
    too_many = boxzipfs("request", "add", mp, "many", *(f"file:{i}" for i in range(10_001)))
    assert too_many.returncode == 1 and "at most 10000" in too_many.stderr

    removed = boxzipfs("request", "rm", mp, "both")
    assert removed.returncode == 0
    assert not (mp / "both").exists()
    missing = boxzipfs("request", "rm", mp, "both")
    assert missing.returncode == 1 and "no request 'both'" in missing.stderr


def test_request_rm_of_a_busy_request_says_so(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, mount
) -> None:
    root, _ = tree
    server = start_server(root, "--throttle", "100000", "--chunk-size", "16K")
    mp = mount("--api-url", server.url, env={"BOX_ACCESS_TOKEN": server.token})
    assert boxzipfs("request", "add", mp, "slow", f"folder:{file_id(root, 'docs')}").returncode == 0
    with (mp / "slow" / "request.zip").open("rb", buffering=0) as handle:
        handle.read(100)
        busy = boxzipfs("request", "rm", mp, "slow")
        assert busy.returncode == 1 and "being downloaded or read" in busy.stderr
    assert (mp / "slow").is_dir()


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_status_once_json_and_live(tree: tuple[Path, dict[str, bytes]], mount) -> None:
    root, _ = tree
    mp = mount("--local", str(root))
    assert boxzipfs("request", "add", mp, "docs", f"folder:{file_id(root, 'docs')}").returncode == 0
    assert boxzipfs("request", "add", mp, "broken", "folder:0").returncode == 0
    (mp / "docs" / "request.zip").read_bytes()
    with pytest.raises(OSError):
        (mp / "broken" / "request.zip").read_bytes()

    snapshot = boxzipfs("status", mp, "--json")
    assert snapshot.returncode == 0
    (entry,) = json.loads(snapshot.stdout)
    by_name = {r["name"]: r for r in entry["requests"]}
    for name in ("docs", "broken"):
        on_disk = json.loads((mp / name / "status.json").read_text())
        assert by_name[name]["phase"] == on_disk["phase"]
    assert (by_name["docs"]["phase"], by_name["docs"]["downloaded_file_count"]) == ("succeeded", 3)
    assert by_name["broken"]["error"]["box"]["code"] == "bad_request"

    every = json.loads(boxzipfs("status", "--json").stdout)  # no mountpoint: every boxzipfs mount
    assert str(mp) in [m["mountpoint"] for m in every]

    once = boxzipfs("status", mp, "--once")
    assert once.returncode == 0
    assert "docs" in once.stdout and "succeeded" in once.stdout and "3/3" in once.stdout
    assert "broken" in once.stdout and "failed" in once.stdout and "bad_request" in once.stdout

    live = subprocess.Popen(
        [sys.executable, "-m", "boxzipfs", "status", str(mp), "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.5)
    live.send_signal(signal.SIGINT)
    out, _ = live.communicate(timeout=10)
    assert live.returncode == 0
    assert "succeeded" in out


def test_ls_lists_every_page(tmp_path: Path, start_server: StartServer) -> None:
    root = tmp_path / "box"
    (root / "many").mkdir(parents=True)
    for i in range(1203):
        (root / "many" / f"f{i:04d}.txt").write_text("x" * (i % 7))
    server = start_server(root)
    listed = boxzipfs(
        "ls", file_id(root, "many"), "--api-url", server.url, "--json", env={"BOX_ACCESS_TOKEN": server.token}
    )
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert [e["name"] for e in entries] == [f"f{i:04d}.txt" for i in range(1203)]
    assert entries[8]["size"] == 1 and entries[8]["id"] == file_id(root, "many/f0008.txt")
    table = boxzipfs("ls", "--local", root)
    assert table.returncode == 0
    assert table.stdout.splitlines()[1].split() == [file_id(root, "many"), "folder", "-", "many"]
    unauthorized = boxzipfs("ls", "--api-url", server.url, env={"BOX_ACCESS_TOKEN": "wrong"})
    assert unauthorized.returncode == 1 and "401" in unauthorized.stderr


def test_config_show_masks_secrets_and_config_drives_the_mount(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, tmp_path: Path
) -> None:
    from tests.mounting import mounted

    root, _ = tree
    token_file = tmp_path / "token"
    token_file.write_text(server.token)
    config = tmp_path / "config.toml"
    config.write_text(
        f'api_url = "{server.url}"\n[auth]\ntoken_file = "{token_file}"\nclient_secret = "very-secret"\n'
        f"[mount]\nwait_for_size = true\nmax_downloads = 2\n"
        f'[requests.photos]\nitems = ["folder:{file_id(root, "photos")}"]\n'
    )
    shown = boxzipfs("config", "show", "--config", config, "--api-url", "http://override:1")
    assert shown.returncode == 0
    settings = json.loads(shown.stdout)
    assert settings["api_url"] == "http://override:1"
    assert settings["client_secret"] == "***" and "very-secret" not in shown.stdout
    assert settings["max_downloads"] == 2 and settings["wait_for_size"] is True

    with mounted(
        tmp_path / "mnt", ["--config", str(config), "--state-dir", str(tmp_path / "st")], tmp_path / "log"
    ):
        request = tmp_path / "mnt" / "photos"
        assert (request / "request.zip").stat().st_size > 0  # wait_for_size from the config
        assert zip_contents((request / "request.zip").read_bytes()) == expected_members(root, "photos")
    assert server.token not in (tmp_path / "log").read_text()


def test_fstab_entry_mounts_through_the_fuse_helper(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    root, _ = tree
    if not Path("/usr/local/bin/boxzipfs").exists():
        pytest.fail("scripts/bootstrap links boxzipfs into /usr/local/bin for mount(8)")
    mp = tmp_path / "fstab-mnt"
    mp.mkdir()
    home = tmp_path / "home"
    (home / "box").mkdir(parents=True)  # mount(8) would turn a bare 'box' source into $PWD/box
    fstab = tmp_path / "fstab"
    fstab.write_text(
        f"boxzipfs:local:{root} {mp} fuse.boxzipfs state_dir={tmp_path / 'st'},"
        f"cache_dir={tmp_path / 'c'},cache_size=1G,metrics_addr=127.0.0.1:0,noauto,_netdev 0 0\n"
    )
    done = subprocess.run(
        ["mount", "-T", str(fstab), str(mp)],
        capture_output=True, text=True, timeout=60, check=False, cwd=home,
    )  # fmt: skip
    try:
        assert done.returncode == 0, done.stderr
        line = next(m for m in Path("/proc/mounts").read_text().splitlines() if f" {mp} " in m)
        assert line.split()[2] == "fuse.boxzipfs"
        (mp / "docs").mkdir()
        (mp / "docs" / "request.json").write_text(
            json.dumps({"items": [{"type": "folder", "id": file_id(root, "docs")}]})
        )
        assert zip_contents((mp / "docs" / "request.zip").read_bytes()) == expected_members(root, "docs")
    finally:
        assert subprocess.run(["umount", str(mp)], check=False).returncode == 0
    assert not os.path.ismount(mp)


def test_a_boxzipfs_folder_in_the_current_directory_changes_nothing(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    """A checkout (or any folder named boxzipfs) where the command runs must not shadow the
    installed package in the daemon or the server it starts (python -m would import it)."""
    root, files = tree
    here = tmp_path / "here"
    (here / "boxzipfs").mkdir(parents=True)
    (here / "boxzipfs" / "__init__.py").write_text("raise ImportError('the shadowing folder')\n")
    (here / "boxzipfs" / "__main__.py").write_text("raise ImportError('the shadowing folder')\n")
    command = str(Path(sys.executable).parent / "boxzipfs")
    mp = tmp_path / "mnt"
    mp.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [command, *args], capture_output=True, text=True, cwd=here, timeout=60, check=False
        )

    listed = run("ls", "--local", str(root))
    assert listed.returncode == 0, listed.stderr
    assert "top.txt" in listed.stdout
    state = ["--state-dir", str(tmp_path / "st"), "--cache-dir", str(tmp_path / "c")]
    mounted_now = run("mount", str(mp), "--local", str(root), *state)
    try:
        assert mounted_now.returncode == 0, mounted_now.stderr
        assert (mp / "browse" / "top.txt").read_bytes() == files["top.txt"]
    finally:
        assert run("unmount", str(mp)).returncode == 0
    log = (tmp_path / "st" / "boxzipfs.log").read_text()
    assert "ImportError" not in log


def test_unmount_refuses_a_busy_mount_and_lazy_detaches_it(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    from tests.mounting import mounted

    root, _ = tree
    mp = tmp_path / "busy"
    with mounted(
        mp, ["--local", str(root), "--state-dir", str(tmp_path / "st")], tmp_path / "log"
    ) as process:
        handle = os.open(mp / "by-id", os.O_RDONLY)  # an open directory keeps the mount busy
        try:
            busy = boxzipfs("unmount", mp)
            assert busy.returncode != 0 and os.path.ismount(mp)
            assert boxzipfs("unmount", mp, "--lazy").returncode == 0
            assert not os.path.ismount(mp)
        finally:
            os.close(handle)
        assert process.wait(15) == 0


def test_version_help_and_verbose_anywhere(tree: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    from boxzipfs import __version__

    version = boxzipfs("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"boxzipfs {__version__}"
    top = boxzipfs("--help")
    assert top.returncode == 0
    for words in (
        "Each directory of a boxzipfs mount is one",
        "examples:",
        "boxzipfs mount /mnt/box --local",
    ):
        assert words in top.stdout
    assert "argument parsing" not in top.stdout  # written for users, not from the module docstring

    from tests.mounting import mounted

    root, _ = tree
    for place in ("before", "after"):
        mp, log = tmp_path / f"mnt-{place}", tmp_path / f"{place}.log"
        with mounted(mp, ["--local", str(root), "--state-dir", str(tmp_path / place)], log):
            request = mp / "docs"
            request.mkdir()
            (request / "request.json").write_text(
                json.dumps({"items": [{"type": "folder", "id": file_id(root, "docs")}]})
            )
            (request / "request.zip").read_bytes()
        text = log.read_text()
        assert "DEBUG" in text and "created a zip download of 1 items" in text
        assert "stream ended after" in text
    # -v before the command, as `boxzipfs -v mount ...` (the mounted() helper puts it after)
    mp = tmp_path / "mnt-top"
    mp.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "boxzipfs", "-v", "mount", str(mp), "--foreground", "--local", str(root),
         "--state-dir", str(tmp_path / "top"), "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not os.path.ismount(mp):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        subprocess.run(["fusermount", "-u", str(mp)], check=False)
        _, err = process.communicate(timeout=15)
    assert "INFO" in err and "DEBUG" not in err  # -v and -q add up: the default INFO


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_status_keeps_name_and_error_readable_at_80_columns_and_follows_in_plain_lines(
    tree: tuple[Path, dict[str, bytes]], mount
) -> None:
    root, _ = tree
    mp = mount("--local", str(root))
    name = "quarterly-reports-for-the-board"
    assert boxzipfs("request", "add", mp, name, "folder:0").returncode == 0
    with pytest.raises(OSError):
        (mp / name / "request.zip").read_bytes()
    once = boxzipfs("status", mp, "--once", env={"COLUMNS": "80"})
    assert once.returncode == 0
    assert all(len(line) <= 80 for line in once.stdout.splitlines()), once.stdout
    assert name in once.stdout  # whole, on one line
    flat = " ".join(once.stdout.split())
    assert "The root folder (ID 0) cannot be added to a zip" in flat

    live = subprocess.Popen(
        [sys.executable, "-m", "boxzipfs", "status", str(mp), "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.5)
    assert boxzipfs("request", "add", mp, "docs", f"folder:{file_id(root, 'docs')}").returncode == 0
    time.sleep(1.0)  # a poll sees it idle
    (mp / "docs" / "request.zip").read_bytes()
    time.sleep(1.0)
    live.send_signal(signal.SIGINT)
    out, err = live.communicate(timeout=10)
    assert live.returncode == 0, err
    lines = out.splitlines()
    assert any(f"{mp}: {name}  failed" in line for line in lines), out
    assert any(f"{mp}: docs  idle" in line for line in lines), out
    assert any(f"{mp}: docs  succeeded  files 3/3" in line for line in lines), out


def test_a_redis_password_never_goes_on_the_command_line_or_on_show(tmp_path: Path) -> None:
    refused = boxzipfs("mount", tmp_path / "mnt", "--local", tmp_path, "--redis", "redis://:pw123@db:6379/0")
    assert (
        refused.returncode == 2 and "BOXZIPFS_REDIS_URL" in refused.stderr and "pw123" not in refused.stderr
    )
    query = boxzipfs(
        "mount", tmp_path / "mnt", "--local", tmp_path, "--redis", "unix:///r.sock?password=pw123"
    )
    assert query.returncode == 2 and "pw123" not in query.stderr
    config = tmp_path / "config.toml"
    config.write_text('[mount]\nredis_url = "rediss://fleet:pw123@db.example:6380/0"\n')
    shown = boxzipfs("config", "show", "--config", config)
    assert shown.returncode == 0, shown.stderr
    assert "pw123" not in shown.stdout and "rediss://fleet:***@db.example:6380/0" in shown.stdout

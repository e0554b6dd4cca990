"""End-to-end: mount for real against the real server and use the tools users use."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import subprocess
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from boxzipfs.server.child import LocalServer
from tests.conftest import StartServer
from tests.helpers import bearer, expected_members, file_id, zip_contents
from tests.mount.support import assert_tree_equal, define, folder_items, run, status

pytestmark = pytest.mark.mount
Mount = Callable[..., Path]


def test_streaming_tools_read_to_the_true_end(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, tmp_path: Path
) -> None:
    root, _ = tree
    mp = mount("--local", str(root), "--reuse-seconds", "0")
    request = define(mp, "docs", {"items": folder_items(root, "docs")})
    assert sorted(os.listdir(request)) == ["request.json", "request.zip", "status.json"]
    assert (request / "request.zip").stat().st_size == 0  # unknown until streamed
    copies = {
        "cat": tmp_path / "cat.zip",
        "cp": tmp_path / "cp.zip",
        "dd": tmp_path / "dd.zip",
        "copyfile": tmp_path / "copyfile.zip",
    }
    with copies["cat"].open("wb") as out:
        assert subprocess.run(["cat", request / "request.zip"], stdout=out, check=False).returncode == 0
    assert run("cp", request / "request.zip", copies["cp"]).returncode == 0
    assert run("dd", f"if={request / 'request.zip'}", f"of={copies['dd']}", "bs=1M").returncode == 0
    shutil.copyfile(request / "request.zip", copies["copyfile"])
    with (request / "request.zip").open("rb") as handle:
        whole = handle.read()
    expected = expected_members(root, "docs")
    assert zip_contents(whole) == expected
    for tool, path in copies.items():
        assert zip_contents(path) == expected, tool
    final = status(request)
    assert final["phase"] == "succeeded"
    assert (final["total_file_count"], final["downloaded_file_count"], final["skipped_file_count"]) == (
        3,
        3,
        0,
    )
    assert final["error"] is None


def test_seeking_tools_work_with_wait_for_size_and_from_a_warm_spool(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, tmp_path: Path
) -> None:
    root, _ = tree
    mp = mount("--local", str(root))
    waiting = define(mp, "waiting", {"items": folder_items(root, "docs", "photos"), "wait_for_size": True})
    size = (waiting / "request.zip").stat().st_size  # blocks until spooled
    assert size > 370_000
    out = tmp_path / "unzip"
    assert run("unzip", "-q", waiting / "request.zip", "-d", out).returncode == 0
    assert_tree_equal(out / "docs", root / "docs")
    assert_tree_equal(out / "photos", root / "photos")
    assert run("7z", "t", waiting / "request.zip").returncode == 0
    listing = run("bsdtar", "tf", waiting / "request.zip").stdout.decode().split()
    assert "docs/nested/deep/note.md" in listing
    rsynced = tmp_path / "rsync.zip"
    assert run("rsync", waiting / "request.zip", rsynced).returncode == 0
    assert rsynced.stat().st_size == size

    warm = define(mp, "warm", {"items": folder_items(root, "photos")})
    assert run("cat", warm / "request.zip").returncode == 0  # streams and spools it
    assert (warm / "request.zip").stat().st_size > 0  # exact size within the reuse window
    with zipfile.ZipFile(warm / "request.zip") as archive:
        assert {i.filename: archive.read(i) for i in archive.infolist()} == expected_members(root, "photos")
    assert status(warm)["archive_size"] == (warm / "request.zip").stat().st_size


def test_mount_wide_wait_for_size_and_by_id(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, tmp_path: Path
) -> None:
    root, files = tree
    mp = mount("--local", str(root), "--wait-for-size")
    by_id = mp / "by-id" / f"folder-{file_id(root, 'photos')}"
    out = tmp_path / "x"
    assert run("unzip", "-q", by_id / "request.zip", "-d", out).returncode == 0
    assert_tree_equal(out / "photos", root / "photos")
    single = mp / "by-id" / f"file-{file_id(root, 'top.txt')}"
    with zipfile.ZipFile(single / "request.zip") as archive:
        assert archive.read("top.txt") == files["top.txt"]
    assert sorted(os.listdir(mp / "by-id")) == sorted([by_id.name, single.name])
    assert json.loads((single / "request.json").read_text())["items"] == [
        {"type": "file", "id": file_id(root, "top.txt")}
    ]
    with pytest.raises(OSError) as caught:
        (single / "request.json").write_text("{}")
    assert caught.value.errno == errno.EROFS


def test_several_hundred_mib_archive_streams_and_extracts_byte_for_byte(mount: Mount, tmp_path: Path) -> None:
    root = tmp_path / "big"
    (root / "data" / "small").mkdir(parents=True)
    for i in range(3):
        with (root / "data" / f"part{i}.bin").open("wb") as out:
            for _ in range(10):
                out.write(os.urandom(10 << 20))
    for i in range(200):
        (root / "data" / "small" / f"f{i:03d}.txt").write_text(f"file {i}\n" * (i + 1))
    mp = mount("--local", str(root), "--buffer-size", "1M")
    request = define(mp, "big", {"items": folder_items(root, "data")})
    copy = tmp_path / "big.zip"
    assert run("dd", f"if={request / 'request.zip'}", f"of={copy}", "bs=1M").returncode == 0
    assert copy.stat().st_size > 300 << 20
    out = tmp_path / "extracted"
    assert run("unzip", "-q", copy, "-d", out).returncode == 0
    assert_tree_equal(out / "data", root / "data")
    assert (request / "request.zip").stat().st_size == copy.stat().st_size
    shutil.rmtree(out)
    shutil.rmtree(root)


def test_concurrent_opens_share_one_box_download(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, mount: Mount, http: httpx.Client
) -> None:
    root, _ = tree
    server = start_server(root, "--throttle", "300000", "--chunk-size", "16K")
    mp = mount("--api-url", server.url, env={"BOX_ACCESS_TOKEN": server.token})
    request = define(mp, "docs", {"items": folder_items(root, "docs")})
    results: list[bytes] = []

    def read() -> None:
        results.append((request / "request.zip").read_bytes())

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    time.sleep(0.4)
    assert status(request)["readers"] == 3
    for reader in readers:
        reader.join(60)
    assert len(results) == 3
    assert results[0] == results[1] == results[2]
    assert zip_contents(results[0]) == expected_members(root, "docs")
    counts = http.get(f"{server.url}/_boxzipfs/stats", headers=bearer(server.token)).json()
    assert counts["downloads_started"] == 1


def test_queue_limits_concurrent_downloads_and_shows_positions(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, mount: Mount
) -> None:
    root, _ = tree
    server = start_server(root, "--throttle", "300000", "--chunk-size", "16K")
    mp = mount("--api-url", server.url, "--max-downloads", "1", env={"BOX_ACCESS_TOKEN": server.token})
    first = define(mp, "first", {"items": folder_items(root, "docs")})
    second = define(mp, "second", {"items": folder_items(root, "photos")})
    results: dict[str, bytes] = {}
    threads = [
        threading.Thread(target=lambda d=d: results.update({d.name: (d / "request.zip").read_bytes()}))
        for d in (first, second)
    ]
    threads[0].start()
    time.sleep(0.3)
    threads[1].start()
    time.sleep(0.3)
    queued = status(second)
    assert (queued["phase"], queued["queue_position"]) == ("queued", 1)
    assert status(first)["phase"] == "streaming"
    for thread in threads:
        thread.join(60)
    assert zip_contents(results["first"]) == expected_members(root, "docs")
    assert zip_contents(results["second"]) == expected_members(root, "photos")


def open_errno(path: Path) -> int:
    try:
        path.read_bytes()
    except OSError as exc:
        return exc.errno or 0
    return 0


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_box_errors_map_to_errno_and_show_in_status(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, mount: Mount, tmp_path: Path
) -> None:
    root, _ = tree
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [{"id": "7", "tokens": ["alice"], "deny": ["photos"]}]}))
    server = start_server(root, "--users", str(users), "--max-files", "2")
    mp = mount("--api-url", server.url, "--queue-deadline", "1", env={"BOX_ACCESS_TOKEN": "alice"})
    cases = {
        "forbidden": ({"items": folder_items(root, "photos")}, errno.EACCES),
        "missing": ({"items": [{"type": "file", "id": "99999999999"}]}, errno.ENOENT),
        "too-many": ({"items": folder_items(root, "docs"), "split": False}, errno.EFBIG),
        "root": ({"items": [{"type": "folder", "id": "0"}]}, errno.EINVAL),
    }
    for name, (body, code) in cases.items():
        request = define(mp, name, body)
        assert open_errno(request / "request.zip") == code, name
        error = status(request)["error"]
        assert isinstance(error, dict)
        assert error["errno"] == errno.errorcode[code]
        box = error["box"]
        assert set(box) == {"status", "code", "message", "request_id"}
        assert box["request_id"]
    assert status(mp / "root")["error"]["box"]["code"] == "bad_request"  # type: ignore[index]
    assert status(mp / "too-many")["error"]["box"]["code"] == "zip_download_file_count_exceeded_limit"  # type: ignore[index]


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_server_errors_and_429_past_deadline(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, mount: Mount, http: httpx.Client
) -> None:
    root, _ = tree
    server = start_server(root, "--user-concurrency", "1", "--throttle", "100000", "--chunk-size", "16K")

    mp = mount("--api-url", server.url, "--queue-deadline", "1", env={"BOX_ACCESS_TOKEN": server.token})
    blocker = http.post(
        f"{server.url}/2.0/zip_downloads",
        json={"items": folder_items(root, "docs")},
        headers=bearer(server.token),
    ).json()
    with httpx.Client(timeout=30) as other:
        held = other.send(other.build_request("GET", blocker["download_url"]), stream=True)
        busy = define(mp, "busy", {"items": folder_items(root, "photos")})
        assert open_errno(busy / "request.zip") == errno.EAGAIN
        assert status(busy)["error"]["errno"] == "EAGAIN"  # type: ignore[index]
        held.close()
    http.put(f"{server.url}/_boxzipfs/faults", json={"create_errors": [{"status": 503, "count": 10}]},
             headers=bearer(server.token))  # fmt: skip
    down = define(mp, "down", {"items": folder_items(root, "photos")})
    assert open_errno(down / "request.zip") == errno.EIO
    assert status(down)["error"]["box"]["status"] == 503  # type: ignore[index]


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_cut_stream_is_eio_never_a_clean_eof_and_the_next_open_recreates(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, mount: Mount, http: httpx.Client
) -> None:
    root, _ = tree
    mp = mount("--api-url", server.url, "--resume-attempts", "0", env={"BOX_ACCESS_TOKEN": server.token})
    request = define(mp, "docs", {"items": folder_items(root, "docs")})
    http.put(f"{server.url}/_boxzipfs/faults", json={"cut_after": 100_000}, headers=bearer(server.token))
    for tool in (["cat"], ["dd", "bs=1M", "status=none", "if="]):
        path = str(request / "request.zip")
        cmd = [*tool[:-1], tool[-1] + path] if tool[0] == "dd" else [*tool, path]
        done = subprocess.run(cmd, capture_output=True, check=False)
        assert done.returncode != 0, tool
        assert b"Input/output error" in done.stderr
    error = status(request)["error"]
    assert isinstance(error, dict)
    assert (error["errno"], error["type"]) == ("EIO", "StreamBroken")
    http.put(f"{server.url}/_boxzipfs/faults", json={}, headers=bearer(server.token))
    assert zip_contents((request / "request.zip").read_bytes()) == expected_members(root, "docs")
    counts = http.get(f"{server.url}/_boxzipfs/stats", headers=bearer(server.token)).json()
    assert counts["downloads_started"] == 3  # two cut downloads, one good one; no URL fetched twice


@pytest.mark.daemon_log(r"download \S+ failed: ")
@pytest.mark.parametrize("allow_skips", [False, True])
def test_skips_fail_the_final_read_unless_allowed(
    tmp_path: Path, start_server: StartServer, mount: Mount, allow_skips: bool
) -> None:
    root = tmp_path / "skip"
    (root / "batch").mkdir(parents=True)
    (root / "batch" / "a-large.bin").write_bytes(b"a" * 600_000)
    (root / "batch" / "z-last.txt").write_bytes(b"last")
    server = start_server(root, "--throttle", "300000", "--chunk-size", "16K")
    mp = mount("--api-url", server.url, env={"BOX_ACCESS_TOKEN": server.token})
    request = define(mp, "batch", {"items": folder_items(root, "batch"), "allow_skips": allow_skips})
    with (request / "request.zip").open("rb", buffering=0) as handle:
        first = handle.read(1000)  # unbuffered: returns once 1000 bytes streamed, long before the end
        (root / "batch" / "z-last.txt").unlink()
        if allow_skips:
            rest = handle.readall()
            assert set(zip_contents(first + rest)) == {"batch/", "batch/a-large.bin"}
        else:
            with pytest.raises(OSError) as caught:
                handle.readall()
            assert caught.value.errno == errno.EIO
    final = status(request)
    assert (final["skipped_file_count"], final["downloaded_file_count"], final["total_file_count"]) == (
        1,
        1,
        2,
    )
    assert final["phase"] == ("succeeded" if allow_skips else "failed")


@pytest.mark.daemon_log(r"request\.json refused: ")
def test_bad_request_json_is_refused_and_the_old_definition_stays(
    tree: tuple[Path, dict[str, bytes]], mount: Mount
) -> None:
    root, _ = tree
    mp = mount("--local", str(root))
    good = {"items": folder_items(root, "docs")}
    request = define(mp, "r", good)
    before = (request / "request.json").read_bytes()
    many = {"items": [{"type": "file", "id": str(i)} for i in range(10_001)]}
    attempts = {
        b"not json at all": errno.EINVAL,
        json.dumps({"items": []}).encode(): errno.EINVAL,
        json.dumps({"itemz": good["items"]}).encode(): errno.EINVAL,
        json.dumps({"items": [{"type": "web_link", "id": "1"}]}).encode(): errno.EINVAL,
        json.dumps(many).encode(): errno.EFBIG,
        b" " * (1 << 20) + json.dumps(good).encode(): errno.EFBIG,
    }
    for data, code in attempts.items():
        with pytest.raises(OSError) as caught, (request / "request.json").open("wb") as handle:
            handle.write(data)
        assert caught.value.errno == code, data[:40]
        assert (request / "request.json").read_bytes() == before
        assert "refused" in str(status(request)["definition_error"])
    shell = subprocess.run(
        ["bash", "-c", f"echo garbage > '{request}/request.json'"], capture_output=True, check=False
    )
    assert shell.returncode != 0
    assert b"Invalid argument" in shell.stderr
    assert zip_contents((request / "request.zip").read_bytes()) == expected_members(root, "docs")
    (request / "request.json").write_text(json.dumps({"items": folder_items(root, "photos")}))
    assert status(request)["definition_error"] is None
    assert zip_contents((request / "request.zip").read_bytes()) == expected_members(root, "photos")


def test_definitions_persist_across_remount_and_rmdir_removes(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    from tests.mounting import mounted

    root, _ = tree
    args = [
        "--local",
        str(root),
        "--state-dir",
        str(tmp_path / "state"),
        "--request",
        f"declared=folder:{file_id(root, 'photos')}",
        "--requests-file",
        str(tmp_path / "requests.json"),
    ]
    from_file = {"items": [{"type": "file", "id": file_id(root, "top.txt")}], "allow_skips": True}
    (tmp_path / "requests.json").write_text(json.dumps({"from-file": from_file}))
    with mounted(tmp_path / "m1", args, tmp_path / "log"):
        define(tmp_path / "m1", "kept", {"items": folder_items(root, "docs"), "download_file_name": "Kept"})
        define(tmp_path / "m1", "dropped", {"items": folder_items(root, "docs")})
        os.rmdir(tmp_path / "m1" / "dropped")
        (tmp_path / "m1" / "empty").mkdir()
    with mounted(tmp_path / "m2", args, tmp_path / "log"):
        mp = tmp_path / "m2"
        assert sorted(os.listdir(mp)) == [
            "archives",
            "browse",
            "by-id",
            "declared",
            "empty",
            "from-file",
            "kept",
        ]
        assert json.loads((mp / "from-file" / "request.json").read_text())["allow_skips"] is True
        assert json.loads((mp / "kept" / "request.json").read_text())["download_file_name"] == "Kept"
        assert zip_contents((mp / "declared" / "request.zip").read_bytes()) == expected_members(
            root, "photos"
        )
        assert os.listdir(mp / "empty") == ["status.json"]
        with pytest.raises(FileExistsError):
            (mp / "kept").mkdir()


def test_background_mount_unmounts_cleanly_on_sigterm(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    import signal
    import sys

    root, _ = tree
    mp, state, cache = tmp_path / "bg", tmp_path / "state", tmp_path / "cache"
    mp.mkdir()
    started = subprocess.run(
        [sys.executable, "-m", "boxzipfs", "mount", str(mp), "--local", str(root),
         "--state-dir", str(state), "--cache-dir", str(cache)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    try:
        assert started.returncode == 0, started.stderr
        assert os.path.ismount(mp)
        pid = int(started.stdout.split("pid ")[1].split(",")[0])
        request = define(mp, "docs", {"items": folder_items(root, "docs")})
        assert zip_contents((request / "request.zip").read_bytes()) == expected_members(root, "docs")
        assert list(cache.glob("*.spool"))
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while (os.path.ismount(mp) or Path(f"/proc/{pid}").exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.ismount(mp)
        assert not Path(f"/proc/{pid}").exists()
        assert not cache.exists() or not list(cache.glob("*.spool"))
        log_text = (state / "boxzipfs.log").read_text()
        assert "unmounted" in log_text
    finally:
        if os.path.ismount(mp):
            subprocess.run(["fusermount", "-u", "-z", str(mp)], check=False)


def test_status_and_logs_never_hold_secrets(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, mount: Mount, tmp_path: Path
) -> None:
    root, _ = tree
    mp = mount("--api-url", server.url, "-vv", env={"BOX_ACCESS_TOKEN": server.token})
    request = define(mp, "docs", {"items": folder_items(root, "docs")})
    (request / "request.zip").read_bytes()
    text = (request / "status.json").read_text()
    assert "zip_downloads" not in text and server.token not in text
    log_text = (tmp_path / "mount.log").read_text()
    assert server.token not in log_text
    assert re.search(r"zip_downloads/(?!\*\*\*)", log_text) is None  # no zip download ID, ever
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert server.token.encode() not in cmdline


def test_status_json_polls_box_at_most_about_once_a_second(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, mount: Mount, http: httpx.Client
) -> None:
    root, _ = tree
    server = start_server(root, "--throttle", "100000", "--chunk-size", "16K")
    mp = mount("--api-url", server.url, env={"BOX_ACCESS_TOKEN": server.token})
    request = define(mp, "docs", {"items": folder_items(root, "docs")})
    with (request / "request.zip").open("rb", buffering=0) as handle:
        first = handle.read(1000)
        before = http.get(f"{server.url}/_boxzipfs/stats", headers=bearer(server.token)).json()[
            "status_reads"
        ]
        started = time.monotonic()
        reads = 0
        while time.monotonic() - started < 1.5:
            assert status(request)["phase"] == "streaming"
            reads += 1
        after = http.get(f"{server.url}/_boxzipfs/stats", headers=bearer(server.token)).json()["status_reads"]
        assert reads > 20
        assert 1 <= after - before <= 3
        assert zip_contents(first + handle.readall()) == expected_members(root, "docs")


@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_a_stalled_stream_is_broken_after_the_stall_timeout(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, mount: Mount
) -> None:
    root, _ = tree
    server = start_server(root, "--stall-after", "50000", "--stall-seconds", "4", "--chunk-size", "16K")
    mp = mount(
        "--api-url", server.url, "--stall-timeout", "1", "--resume-attempts", "0",
        env={"BOX_ACCESS_TOKEN": server.token},
    )  # fmt: skip
    request = define(mp, "docs", {"items": folder_items(root, "docs")})
    started = time.monotonic()
    assert open_errno(request / "request.zip") == errno.EIO
    assert time.monotonic() - started < 3.5
    error = status(request)["error"]
    assert isinstance(error, dict)
    assert (error["type"], error["errno"]) == ("StreamBroken", "EIO")
    assert "no bytes arrived in time" in str(error["message"])


def test_foreground_mount_unmounts_on_sigint(tree: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    import signal

    from tests.mounting import mounted

    root, _ = tree
    with mounted(
        tmp_path / "m", ["--local", str(root), "--cache-dir", str(tmp_path / "c")], tmp_path / "log"
    ) as process:
        process.send_signal(signal.SIGINT)
        assert process.wait(15) == 0
        assert not os.path.ismount(tmp_path / "m")
    assert not list((tmp_path / "c").glob("*.spool"))  # spools removed at unmount


def test_mounts_are_private_unless_allow_other(tree: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    import tempfile

    from tests.mounting import mounted

    root, _ = tree
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "ls"]
    public = Path(tempfile.mkdtemp(prefix="boxzipfs-test-"))  # reachable by other users, unlike tmp_path
    try:
        public.chmod(0o755)
        for options, visible in (([], False), (["-o", "allow_other"], True)):
            mp = public / f"mnt{len(options)}"
            args = ["--local", str(root), "--state-dir", str(tmp_path / "st"), *options]
            with mounted(mp, args, tmp_path / "log"):
                listing = run(*as_nobody, mp)
                if visible:
                    assert listing.returncode == 0, listing.stderr
                    assert listing.stdout.split() == [b"archives", b"browse", b"by-id"]
                else:
                    assert listing.returncode != 0 and b"Permission denied" in listing.stderr
                    assert run("ls", mp).returncode == 0  # the owner sees it
    finally:
        shutil.rmtree(public, ignore_errors=True)


@pytest.mark.daemon_log(r"request\.json refused: ")
def test_nothing_a_user_writes_crashes_the_daemon(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, tmp_path: Path
) -> None:
    import random

    root, _ = tree
    mp = mount("--local", str(root))
    rng = random.Random(1234)
    for name in (".hidden", "by-id", "x" * 255, "tab\tand\nnewline", "ünïcödé"):
        with contextlib.suppress(OSError):
            (mp / name).mkdir()
    for _ in range(40):
        size = rng.choice([0, 1, 7, 100, 4096, 70_000])
        data = bytes(rng.getrandbits(8) for _ in range(size))
        if size:  # random bytes are never a valid definition
            with pytest.raises(OSError) as refused:
                (mp / "ünïcödé" / "request.json").write_bytes(data)
            assert refused.value.errno == errno.EINVAL
        else:  # an empty write leaves the (absent) definition as it was
            (mp / "ünïcödé" / "request.json").write_bytes(data)
        for junk in ("request.zip", "status.json"):
            with pytest.raises(OSError) as refused:
                (mp / "ünïcödé" / junk).write_bytes(data)
            assert refused.value.errno == errno.EACCES, junk
        scratch = mp / "ünïcödé" / "other.txt"  # a temporary file, as rsync and sed -i write
        scratch.write_bytes(data)
        assert scratch.read_bytes() == data
        scratch.unlink()
    assert json.loads((mp / "ünïcödé" / "status.json").read_text())["defined"] is False
    request = define(mp, "still-alive", {"items": folder_items(root, "docs")})
    assert zip_contents((request / "request.zip").read_bytes()) == expected_members(root, "docs")
    assert "Traceback" not in (tmp_path / "mount.log").read_text()


def test_definitions_deployed_with_rsync_a_land_and_rsync_exits_0(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, tmp_path: Path
) -> None:
    """A directory of definitions kept in config management, synced onto the mount: rsync
    makes each request, writes request.json beside it and renames it over, sets its mode
    and the directories' times (which failed with EISDIR once they existed: rsync exited 23)."""
    root, _ = tree
    mp = mount("--local", str(root))
    defs = tmp_path / "definitions"
    for name in ("docs", "photos"):
        (defs / name).mkdir(parents=True)
        (defs / name / "request.json").write_text(json.dumps({"items": folder_items(root, name)}))
    for _ in range(2):  # the second time, every directory is there already
        synced = run("rsync", "-a", f"{defs}/", mp)
        assert synced.returncode == 0, synced.stderr
        for name in ("docs", "photos"):
            assert (mp / name / "request.json").read_bytes() == (defs / name / "request.json").read_bytes()
            expected = json.loads((defs / name / "request.json").read_text())["items"]
            assert zip_contents((mp / name / "request.zip").read_bytes()) == expected_members(
                root, "photos" if expected == folder_items(root, "photos") else "docs"
            )
        (defs / "docs" / "request.json").write_text(json.dumps({"items": folder_items(root, "photos")}))
        for changed in (defs / "docs" / "request.json", defs / "docs"):  # rsync's quick check sees it
            os.utime(changed, (time.time() - 3600, time.time() - 3600))
    os.utime(mp / "docs")  # touch of a request directory, and of the root: accepted, nothing changes
    os.utime(mp)
    assert sorted(os.listdir(mp / "docs")) == ["request.json", "request.zip", "status.json"]

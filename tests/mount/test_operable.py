"""#22: operable like the best mounts. systemd readiness through a real notify socket, the
health probes, SIGHUP and SIGUSR1, --uid/--gid/--umask seen by other users, JSON logs."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from boxzipfs.mount.paths import pid_file
from tests.conftest import StartServer
from tests.helpers import boxzipfs, expected_members, free_port, zip_contents
from tests.mount.support import define, folder_items
from tests.mounting import mounted
from tests.redisserver import RedisServer

pytestmark = pytest.mark.mount
REPO = Path(__file__).resolve().parents[2]
Mount = Callable[..., Path]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """What systemd listens on for a Type=notify unit: a datagram socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(20)
    yield sock
    sock.close()


def messages_until(sock: socket.socket, wanted: str, deadline: float = 20) -> list[dict[str, str]]:
    """Each datagram as KEY=value fields, up to and including the first that holds ``wanted``."""
    got = []
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        sock.settimeout(max(0.1, end - time.monotonic()))
        data = sock.recv(4096).decode()
        fields = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
        got.append(fields)
        if wanted in data.splitlines():
            return got
    raise AssertionError(f"no {wanted} from the daemon; got {got}")


def unit_commands(tmp_path: Path, root: Path, mp: Path) -> dict[str, list[str]]:
    """The shipped unit's Exec lines, pointed at this checkout and a private config."""
    unit = (REPO / "contrib" / "systemd" / "boxzipfs.service").read_text()
    assert "Type=notify" in unit and "NotifyAccess=main" in unit
    config = tmp_path / "config.toml"
    config.write_text(
        f'local = "{root}"\n[mount]\nstate_dir = "{tmp_path / "st"}"\ncache_dir = "{tmp_path / "c"}"\n'
    )
    commands = {}
    for line in unit.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("Exec"):
            value = value.replace("/usr/local/bin/boxzipfs", f"{sys.executable} -m boxzipfs")
            value = value.replace("/etc/boxzipfs/config.toml", str(config)).replace("/mnt/box", str(mp))
            commands[key] = shlex.split(value)
    return commands


def test_the_notify_unit_is_ready_only_once_the_mount_answers(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path, notify_socket: socket.socket
) -> None:
    """Runs the unit's commands as systemd would for Type=notify: a service ordered after it
    starts at READY=1, and at that moment the path must be mounted and answering."""
    root, _ = tree
    mp = tmp_path / "box-mnt"
    commands = unit_commands(tmp_path, root, mp)
    assert subprocess.run(commands["ExecStartPre"], check=False).returncode == 0
    env = {**os.environ, "NOTIFY_SOCKET": notify_socket.getsockname()}
    service = subprocess.Popen(commands["ExecStart"], stderr=subprocess.PIPE, env=env)
    try:
        ready = messages_until(notify_socket, "READY=1")[-1]
        # what the dependent unit does the moment it is started:
        assert os.path.ismount(mp)
        assert int(ready["MAINPID"]) == service.pid and ready["STATUS"] == f"mounted at {mp}"
        define(mp, "top", {"items": folder_items(root, "photos")})
        assert zip_contents((mp / "top" / "request.zip").read_bytes()) == expected_members(root, "photos")
        status = messages_until(notify_socket, "STATUS=idle; 0 MiB cached", 10)  # as downloads come and go
        assert status
        reload = [part.replace("$MAINPID", str(service.pid)) for part in commands["ExecReload"]]
        assert subprocess.run(reload, check=False).returncode == 0
        assert subprocess.run(commands["ExecStop"], check=False).returncode == 0
        stopping = messages_until(notify_socket, "STOPPING=1", 15)
        assert stopping[-1]["STATUS"] == "unmounting"
        assert service.wait(15) == 0
    finally:
        if os.path.ismount(mp):
            subprocess.run(["fusermount", "-u", "-z", str(mp)], check=False)
        if service.poll() is None:
            service.kill()
        _, err = service.communicate()
    assert b"SIGHUP: " in err  # the reload reached the daemon, which went on


def probe(port: int, name: str) -> tuple[int, dict[str, object]]:
    answer = httpx.get(f"http://127.0.0.1:{port}/{name}", timeout=20)
    return answer.status_code, answer.json()


@pytest.mark.daemon_log(
    r"Box refused|rejected the access token|fleet \S+ degraded|Redis|download \S+ failed|could not check"
)
def test_health_answers_200_then_503_when_the_credentials_go_bad_or_redis_dies(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, mount: Mount, tmp_path: Path,
    redis_server: RedisServer,
) -> None:  # fmt: skip
    root, _ = tree
    server = start_server(root)
    token_file = tmp_path / "token"
    token_file.write_text(server.token)
    port = free_port()
    mp = mount("--api-url", server.url, "--metrics-addr", str(port), "--list-ttl", "0",
               env={"BOX_TOKEN_FILE": str(token_file), "BOXZIPFS_REDIS_URL": redis_server.url})  # fmt: skip
    assert probe(port, "healthz") == (200, {"ok": True, "checks": {"fuse_loop": "ok"}, "reason": "ok"})
    code, ready = probe(port, "readyz")
    assert code == 200 and ready["checks"] == {"credentials": "ok", "cache": "ok", "redis": "ok"}
    checked = boxzipfs("status", "--check", mp)
    assert checked.returncode == 0 and "alive and ready" in checked.stdout
    assert "metrics" not in probe(port, "readyz")[1]  # the probes are JSON, /metrics stays Prometheus
    assert "boxzipfs_api_calls" in httpx.get(f"http://127.0.0.1:{port}/metrics").text

    token_file.write_text("revoked-token")
    with pytest.raises(PermissionError):
        os.listdir(mp / "browse")  # a listing meets Box's 401
    code, ready = probe(port, "readyz")
    assert code == 503 and "Box refused the credentials" in str(ready["checks"]["credentials"])  # type: ignore[index]
    checked = boxzipfs("status", "--check", mp)
    assert checked.returncode == 1 and "not ready: Box refused the credentials" in checked.stdout
    assert probe(port, "healthz")[0] == 200  # alive all the same

    token_file.write_text(server.token)
    os.listdir(mp / "browse")
    assert probe(port, "readyz")[0] == 200
    redis_server.close()
    code, ready = probe(port, "readyz")
    assert code == 503 and "Redis is unreachable" in str(ready["reason"])
    assert server.token not in json.dumps(ready)


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, what
        time.sleep(0.05)


def test_sighup_drops_listings_and_reopens_the_log_and_sigusr1_dumps_the_state(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    root, _ = tree
    mp, state = tmp_path / "mnt", tmp_path / "state"
    mp.mkdir()
    done = boxzipfs("mount", mp, "--local", root, "--state-dir", state, "--list-ttl", "3600")
    assert done.returncode == 0, done.stderr
    try:
        pid = int(pid_file(mp).read_text())  # where boxzipfs unmount finds the daemon
        assert "docs" in os.listdir(mp / "browse")
        (root / "docs").rename(root / "papers")  # renamed on "Box"
        assert "docs" in os.listdir(mp / "browse")  # the listing is cached for an hour
        log = state / "boxzipfs.log"
        log.rename(state / "boxzipfs.log.1")  # logrotate
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: log.exists() and "SIGHUP" in log.read_text(), "SIGHUP not logged in a new log file")
        names = os.listdir(mp / "browse")
        assert "papers" in names and "docs" not in names  # at once
        assert (mp / "browse" / "papers" / "readme.txt").read_bytes() == (
            root / "papers" / "readme.txt"
        ).read_bytes()
        os.kill(pid, signal.SIGUSR1)
        wait_for(lambda: "SIGUSR1: state dump" in log.read_text(), "no state dump")
        dump = log.read_text().split("SIGUSR1: state dump", 1)[1]
        for part in ("downloads:", "slots: 0 of 5 in use", "cache:", "ready: "):
            assert part in dump, dump
        assert "SIGHUP" not in (state / "boxzipfs.log.1").read_text()
    finally:
        assert boxzipfs("unmount", mp).returncode == 0


def as_user(uid: int, gid: int, *argv: str | Path) -> subprocess.CompletedProcess[bytes]:
    command = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *map(str, argv)]
    return subprocess.run(command, capture_output=True, check=False, timeout=60)


def test_uid_gid_and_umask_are_shown_and_enforced_for_other_users(
    tree: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    """A mount made by root for a service account (nobody here): the account reads, others do not."""
    root, files = tree
    scratch = Path(tempfile.mkdtemp(prefix="boxzipfs-owner-", dir="/tmp"))  # others can reach it
    scratch.chmod(0o755)
    mp = scratch / "mnt"
    args = ["--local", str(root), "--state-dir", str(tmp_path / "st"), "--uid", "65534", "--gid", "65534",
            "--umask", "027", "-o", "allow_other"]  # fmt: skip
    try:
        with mounted(mp, args, tmp_path / "mount.log"):
            top = mp / "browse" / "top.txt"
            st = os.stat(top)
            assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (65534, 65534, 0o440)
            assert os.stat(mp / "browse").st_mode & 0o777 == 0o550
            owner = as_user(65534, 65534, "cat", top)
            assert owner.returncode == 0 and owner.stdout == files["top.txt"], owner.stderr
            other = as_user(1, 1, "cat", top)
            assert other.returncode == 1 and b"Permission denied" in other.stderr
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_json_logs_carry_the_request_download_and_phase(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, tmp_path: Path
) -> None:
    root, _ = tree
    mp = mount("--local", str(root), "--log-format", "json")
    define(mp, "photos", {"items": folder_items(root, "photos")})
    assert zip_contents((mp / "photos" / "request.zip").read_bytes()) == expected_members(root, "photos")
    deadline = time.monotonic() + 10  # the line is logged just after the last byte is served
    while True:
        lines = [line for line in (tmp_path / "mount.log").read_text().splitlines() if line.startswith("{")]
        records = [json.loads(line) for line in lines]
        done = [r for r in records if "succeeded" in r["message"]]
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert done and done[0]["request"] == "photos" and done[0]["download"].startswith("d")
    assert done[0]["phase"] == "succeeded"
    assert any(r.get("phase") == "streaming" for r in records if r.get("request") == "photos")

"""Mount orchestration: wire client, download manager, drive and FUSE together,
run in the foreground, or start a background child and return once mounted.

The background mode re-runs this command with ``--foreground`` in a new session
(no fork after threads, which can hang), logging to a file in the state dir.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from boxzipfs.client.auth import Auth, StaticTokenAuth, auth_from_env
from boxzipfs.client.box import BoxClient
from boxzipfs.client.retry import RetryPolicy
from boxzipfs.config import Settings, request_from_items
from boxzipfs.download.archive import DownloadSettings
from boxzipfs.download.manager import DownloadManager, ManagerSettings
from boxzipfs.drive.definitions import DefinitionStore, check_name
from boxzipfs.drive.drive import Drive
from boxzipfs.errors import RequestInvalid
from boxzipfs.models import RequestSpec, parse_request_spec
from boxzipfs.mount.local_server import LocalServer, start_local_server
from boxzipfs.mount.memory import limit_malloc_arenas

log = logging.getLogger(__name__)


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


def mount_key(mountpoint: Path) -> str:
    """A directory name unique to a mountpoint path."""
    return str(mountpoint.resolve()).strip("/").replace("/", "_") or "root"


def default_state_dir(mountpoint: Path) -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state") / "boxzipfs" / "mounts" / mount_key(mountpoint)


def default_cache_dir(mountpoint: Path) -> Path:
    return _xdg("XDG_CACHE_HOME", ".cache") / "boxzipfs" / mount_key(mountpoint)


def parse_request_option(text: str) -> tuple[str, RequestSpec]:
    """``NAME=folder:1,file:2`` -> (NAME, spec)."""
    name, sep, items = text.partition("=")
    if not sep or not items:
        raise RequestInvalid(f"--request {text!r} is not NAME=folder:ID,file:ID")
    parsed = [item.strip() for item in items.split(",")]
    return check_name(name), request_from_items(parsed, name, allow_skips=False, wait=None)


def load_requests_file(path: Path) -> dict[str, RequestSpec]:
    """A JSON object mapping request names to request.json bodies."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RequestInvalid(f"cannot read requests file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise RequestInvalid(f"{path} must hold a JSON object of NAME: request body")
    return {check_name(n): parse_request_spec(json.dumps(b).encode()) for n, b in data.items()}


def parse_fuse_options(values: list[str]) -> dict[str, str | bool]:
    options: dict[str, str | bool] = {}
    for value in values:
        for part in value.split(","):
            if part:
                key, sep, arg = part.partition("=")
                options[key] = arg if sep else True
    return options


def run_foreground(
    settings: Settings,
    mountpoint: Path,
    local_root: Path | None = None,
    fuse_options: dict[str, str | bool] | None = None,
) -> int:
    """Mount and serve until unmounted (fusermount -u, SIGINT, SIGTERM)."""
    from fuse import FUSE  # imported here so that serve and the CLI work without libfuse

    from boxzipfs.mount.fs import BoxZipOperations

    limit_malloc_arenas()
    mountpoint = mountpoint.resolve()
    state_dir = Path(settings.state_dir).expanduser() if settings.state_dir else default_state_dir(mountpoint)
    cache_dir = Path(settings.cache_dir).expanduser() if settings.cache_dir else default_cache_dir(mountpoint)
    server: LocalServer | None = None
    http = httpx.Client(timeout=httpx.Timeout(30.0, read=settings.stall_timeout))
    manager: DownloadManager | None = None
    try:
        auth: Auth
        api_url = settings.api_url
        if local_root is not None:
            server = start_local_server(local_root)
            api_url = server.url
            auth = StaticTokenAuth(server.token)
            log.info("serving %s on a local Box-compatible server", local_root)
        else:
            auth = auth_from_env(http, api_url, settings.auth_env(dict(os.environ)))
        client = BoxClient(http, auth, api_url, RetryPolicy(attempts=4))
        manager = DownloadManager(
            client,
            ManagerSettings(
                cache_dir=cache_dir,
                cache_size=settings.cache_size,
                reuse_seconds=settings.reuse_seconds,
                max_downloads=settings.max_downloads,
                download=DownloadSettings(
                    buffer_size=settings.buffer_size, queue_deadline=settings.queue_deadline
                ),
            ),
        )
        store = DefinitionStore(state_dir)
        for name, spec in settings.requests.items():
            store.put(name, spec)
        operations = BoxZipOperations(Drive(store, manager, settings.wait_for_size))
        fuse_kwargs: dict[str, str | bool] = {
            "fsname": "boxzipfs",
            "subtype": "boxzipfs",
            "attr_timeout": "0",
            "entry_timeout": "0",
            "negative_timeout": "0",
            "atomic_o_trunc": True,
            "big_writes": True,
            **(fuse_options or {}),
        }
        log.info("mounting at %s (state %s, cache %s)", mountpoint, state_dir, cache_dir)
        FUSE(operations, str(mountpoint), foreground=True, nothreads=False, raw_fi=True, **fuse_kwargs)
        log.info("unmounted %s", mountpoint)
        return 0
    finally:
        if manager is not None:
            manager.shutdown()
        if server is not None:
            server.stop()
        http.close()


def spawn_background(argv: list[str], mountpoint: Path, log_path: Path, timeout: float = 30.0) -> int:
    """Run ``boxzipfs ARGV --foreground`` detached; return once the mount is up."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-m", "boxzipfs", *argv, "--foreground"],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.ismount(mountpoint):
            print(f"boxzipfs: mounted at {mountpoint} (pid {child.pid}, log {log_path})")
            return 0
        if child.poll() is not None:
            print(f"boxzipfs: mount failed (exit {child.returncode}); see {log_path}:", file=sys.stderr)
            sys.stderr.write(_tail(log_path))
            return child.returncode or 1
        time.sleep(0.05)
    child.terminate()
    print(f"boxzipfs: {mountpoint} was not mounted within {timeout:g}s; see {log_path}", file=sys.stderr)
    return 1


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except OSError:
        return ""


def unmount(mountpoint: Path, lazy: bool = False) -> int:
    args = ["fusermount", "-u", *(["-z"] if lazy else []), str(mountpoint)]
    return subprocess.run(args, check=False).returncode

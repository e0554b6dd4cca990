"""The mount's life: wire client, download manager, drive and FUSE together;
run in the foreground, or start a background daemon and return once it mounted.

The background mode re-runs this command with ``--foreground`` in a new session
(no fork after threads, which can hang), logging to a file in the state dir, and
waits on a readiness pipe for the daemon's word: ``ready`` or its real failure.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

from boxzipfs import metrics
from boxzipfs.atomicfile import atomic_write
from boxzipfs.client.auth import Auth, StaticTokenAuth
from boxzipfs.client.box import BoxClient, http_client
from boxzipfs.client.credentials import CredentialState, fleet_name, open_auth
from boxzipfs.client.pacing import ApiPacer
from boxzipfs.client.retry import RetryPolicy
from boxzipfs.config import Settings, redact_url
from boxzipfs.download.archive import DownloadSettings
from boxzipfs.download.filecache import FileCache
from boxzipfs.download.fleet import FleetBudget, FleetSettings, FleetSlots
from boxzipfs.download.manager import DownloadManager, ManagerSettings
from boxzipfs.download.prefetch import Prefetcher, PrefetchSettings
from boxzipfs.drive.browse import BrowseTree
from boxzipfs.drive.definitions import DefinitionStore
from boxzipfs.drive.drive import Drive
from boxzipfs.drive.view import MountView
from boxzipfs.errors import (
    AuthError,
    BoxAPIError,
    BoxZipError,
    FleetRefused,
    Forbidden,
    MountError,
    NetworkError,
    Unauthorized,
    UntrustedServer,
)
from boxzipfs.mount import readiness
from boxzipfs.mount.health import Health
from boxzipfs.mount.lifecycle import (
    LOG_FILE_ENV,
    block_control_signals,
    handle_control_signals,
    log_file,
    reopen_log,
    report_status,
)
from boxzipfs.mount.limits import raise_open_files_limit
from boxzipfs.mount.memory import trim_malloc, tune_malloc
from boxzipfs.mount.mountpoint import cache_notices
from boxzipfs.mount.ownership import DirectoryLock, clean_dead_caches
from boxzipfs.mount.paths import cache_base, cache_dir_for, pid_file, state_dir_for
from boxzipfs.mount.probes import serve_probes
from boxzipfs.mount.sdnotify import SystemdNotifier
from boxzipfs.server.child import start_local_server

log = logging.getLogger(__name__)
READY_TIMEOUT = 60.0


def _join_fleet(
    settings: Settings, api_url: str, stack: contextlib.ExitStack, notifier: readiness.Notifier
) -> FleetBudget | None:
    """The fleet's budget in Redis, when a Redis is configured (its URL is never logged whole)."""
    if not settings.redis_url:
        return None
    name = fleet_name(settings.fleet, api_url, settings.auth_env(dict(os.environ)))
    try:
        fleet = FleetBudget(
            FleetSettings(
                settings.redis_url,
                name,
                user_limit=settings.user_concurrency,
                enterprise_limit=settings.enterprise_concurrency,
                lease_seconds=settings.lease_seconds,
            )
        )
    except ValueError as exc:  # redis-py's word on a URL it cannot use (never the URL itself)
        raise MountError(f"the Redis URL {redact_url(settings.redis_url)} cannot be used: {exc}") from None
    stack.callback(fleet.close)
    try:
        fleet.check()
    except FleetRefused as exc:
        raise MountError(f"{exc}: check the user and password of the Redis URL") from None
    if fleet.degraded:
        notifier.warn(f"fleet {name}: {fleet.degraded}; mounting anyway")
    else:
        log.info("joined fleet %s through %s", name, redact_url(settings.redis_url))
    return fleet


def _serve_metrics(
    address: str, manager: DownloadManager, fleet: FleetBudget | None, health: Health
) -> ThreadingHTTPServer:
    """Prometheus metrics, /healthz and /readyz on ``[HOST:]PORT`` (loopback unless a host is given)."""
    host, _, port = address.rpartition(":")
    try:
        server = serve_probes(host or "127.0.0.1", int(port), health, metrics.REGISTRY)
    except (OSError, ValueError) as exc:
        raise MountError(f"cannot serve metrics at {address}: {exc}") from None

    def gauges() -> dict[str, float]:
        values: dict[str, float] = dict(manager.gauges())
        values["fleet_leases_held"] = fleet.held if fleet else 0
        values["fleet_degraded"] = 1 if fleet is not None and fleet.degraded else 0
        return values

    metrics.register_state(gauges)
    log.info("serving metrics, /healthz and /readyz at http://%s:%s/", host or "127.0.0.1", port)
    return server


def _status_line(manager: DownloadManager) -> str:
    """systemd's STATUS= line: what the mount is doing now."""
    gauges = manager.gauges()
    active, queued = int(gauges["downloads_active"]), int(gauges["downloads_queued"])
    cached = int(gauges["cache_bytes"]) >> 20
    if not active and not queued:
        return f"idle; {cached} MiB cached"
    return f"{active} downloads streaming, {queued} queued; {cached} MiB cached"


def _on_hup(browse: BrowseTree) -> None:
    dropped = browse.forget()
    path = log_file()
    if path is not None:
        reopen_log(path)
    log.info("SIGHUP: %d folder listings dropped%s", dropped, f"; log reopened at {path}" if path else "")


def _on_usr1(
    manager: DownloadManager, pacer: ApiPacer | None, health: Health, prefetcher: Prefetcher | None
) -> None:
    lines = ["SIGUSR1: state dump", *manager.dump()]
    if prefetcher is not None:
        lines.append(f"prefetch: {json.dumps(prefetcher.stats())}")
    if pacer is not None:
        lines.append(f"API: {json.dumps(pacer.snapshot())}")
    lines.append(f"ready: {json.dumps(health.ready().to_json())}")
    log.info("%s", "\n  ".join(lines))


def _api_pacer(settings: Settings, api_url: str) -> ApiPacer:
    """This mount's API budget; with a Redis, the fleet's, shared by its hosts per account."""
    key = fleet_name(settings.fleet, api_url, settings.auth_env(dict(os.environ)))
    storage = None
    if settings.redis_url:  # limits names a unix socket redis+unix://
        storage = re.sub(r"^unix://", "redis+unix://", settings.redis_url)
    try:
        return ApiPacer(settings.api_calls_per_minute, key, storage)
    except ValueError as exc:
        raise MountError(f"--api-calls-per-minute: {exc}") from None


@contextlib.contextmanager
def _pid_file(mountpoint: Path) -> Iterator[None]:
    """This daemon's process ID where ``boxzipfs unmount`` looks for it, removed at the end."""
    path = pid_file(mountpoint)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(path, f"{os.getpid()}\n".encode(), 0o644)
    except OSError as exc:
        log.info("no pid file at %s (%s): unmount will not wait for this daemon", path, exc.strerror)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def check_credentials(client: BoxClient, notifier: readiness.Notifier) -> None:
    """Refused credentials stop the mount; an unreachable Box only warns (a network not up at boot)."""
    try:
        client.check_credentials()
    except UntrustedServer as exc:  # never mounted over a connection that is not verified
        raise MountError(str(exc)) from None
    except (Unauthorized, Forbidden, AuthError) as exc:
        raise MountError(f"Box refused the credentials: {exc}") from None
    except (NetworkError, BoxAPIError) as exc:
        message = f"could not check the credentials now ({exc}); mounting anyway"
        log.warning("%s", message)
        notifier.warn(message)


def run_foreground(
    settings: Settings,
    mountpoint: Path,
    local_root: Path | None = None,
    fuse_options: dict[str, str | bool] | None = None,
) -> int:
    """Mount and serve until unmounted (fusermount -u, SIGINT, SIGTERM)."""
    block_control_signals()  # before any thread starts: one thread takes them (see lifecycle)
    notifier = readiness.Notifier.from_environment()
    try:
        return _serve(settings, mountpoint.resolve(), local_root, fuse_options or {}, notifier)
    except BoxZipError as exc:
        notifier.failed(str(exc))
        raise
    finally:
        notifier.failed("the daemon stopped before the mount was ready")  # no-op once it spoke


def _serve(
    settings: Settings,
    mountpoint: Path,
    local_root: Path | None,
    fuse_options: dict[str, str | bool],
    notifier: readiness.Notifier,
) -> int:
    systemd = SystemdNotifier.from_environment()
    try:
        return _mount_and_serve(settings, mountpoint, local_root, fuse_options, notifier, systemd)
    finally:
        systemd.stopping()


def _mount_and_serve(
    settings: Settings,
    mountpoint: Path,
    local_root: Path | None,
    fuse_options: dict[str, str | bool],
    notifier: readiness.Notifier,
    systemd: SystemdNotifier,
) -> int:
    from boxzipfs.mount.fs import BoxZipOperations  # imported here: serve and the CLI need no libfuse
    from boxzipfs.mount.libfuse import FUSE, fuse_major_version
    from boxzipfs.mount.readahead import raise_read_ahead

    tune_malloc()
    state_dir = state_dir_for(settings.state_dir, mountpoint)
    cache_dir = cache_dir_for(settings.cache_dir, mountpoint)
    with contextlib.ExitStack() as stack:
        # Own both directories before touching anything in them.
        stack.enter_context(DirectoryLock(state_dir, "state")).acquire(mountpoint)
        if cache_dir != state_dir:
            stack.enter_context(DirectoryLock(cache_dir, "cache")).acquire(mountpoint)
        stack.enter_context(_pid_file(mountpoint))
        removed, freed = clean_dead_caches(cache_base(), cache_dir)
        if removed:
            log.info("removed %d spools (%d MiB) left by mounts that were killed", removed, freed >> 20)
        for notice in cache_notices(cache_dir, settings.cache_size):
            log.warning("%s", notice)
            notifier.warn(notice)
        http = stack.enter_context(http_client(settings.wire()))
        auth: Auth
        api_url = settings.api_url
        pacer: ApiPacer | None = None  # the budget is Box's: the embedded server has none to keep
        if local_root is not None:
            server = stack.enter_context(start_local_server(local_root))
            api_url = server.url
            auth = StaticTokenAuth(server.token)
            log.info("serving %s on a local Box-compatible server", local_root)
        else:
            auth_env = settings.auth_env(dict(os.environ))
            pacer = _api_pacer(settings, api_url)
            # A refresh token works once: with a Redis, the fleet's hosts share one chain.
            auth = open_auth(http, api_url, auth_env, stack, pacer, settings.redis_url, settings.fleet)
        as_user = settings.as_user if local_root is None else None
        credentials = CredentialState()
        retry = RetryPolicy(attempts=4)
        client = BoxClient(http, auth, api_url, retry, pacer=pacer, as_user=as_user, credentials=credentials)
        client.wire = settings.wire()
        check_credentials(client, notifier)
        store = DefinitionStore(state_dir)
        for name, spec in settings.requests.items():
            store.put(name, spec)
        fleet = _join_fleet(settings, api_url, stack, notifier)
        # Browse files kept across remounts take their share of --cache-size; archives the rest.
        files_budget = int(settings.cache_size * min(max(settings.browse_cache_share, 0.0), 1.0))
        files = FileCache(cache_dir / "files", files_budget) if files_budget > 0 else None
        manager = DownloadManager(
            client,
            ManagerSettings(
                cache_dir=cache_dir,
                cache_size=settings.cache_size - files_budget,
                files=files,
                reuse_seconds=settings.reuse_seconds,
                max_downloads=settings.max_downloads,
                abandon_seconds=settings.abandon_seconds,
                download=DownloadSettings(
                    buffer_size=settings.buffer_size,
                    queue_deadline=settings.queue_deadline,
                    resume_attempts=settings.resume_attempts,
                ),
            ),
            FleetSlots(settings.max_downloads, fleet) if fleet is not None else None,
            on_idle=trim_malloc,
        )
        stack.callback(manager.shutdown)
        health = Health(
            mountpoint, cache_dir, credentials, client.check_credentials, fleet.reachable if fleet else None
        )
        if settings.metrics_addr:
            stack.callback(_serve_metrics(settings.metrics_addr, manager, fleet, health).shutdown)
        browse = BrowseTree(client.list_folder, settings.list_ttl)
        prefetcher = None
        if files is not None:
            prefetch = PrefetchSettings(
                settings.prefetch_after,
                settings.prefetch_threshold,
                settings.prefetch_max_files,
                settings.prefetch_max_bytes,
            )
            prefetcher = Prefetcher(client, manager.slots, files, prefetch)
            stack.callback(prefetcher.close)
        owner = (
            os.getuid() if settings.uid is None else settings.uid,
            os.getgid() if settings.gid is None else settings.gid,
        )
        shared = any(fuse_options.get(name) for name in ("allow_other", "allow_root"))
        if shared or (settings.uid, settings.gid, settings.umask) != (None, None, None):
            fuse_options.setdefault("default_permissions", True)  # the modes shown are enforced
        stop = threading.Event()
        stack.callback(stop.set)

        def on_mounted() -> None:
            notifier.ready()
            systemd.ready(f"mounted at {mountpoint}")
            report_status(systemd, lambda: _status_line(manager), stop)

        operations = BoxZipOperations(
            MountView(
                Drive(store, manager, settings.wait_for_size, browse, prefetcher),
                owner,
                settings.streaming_readers,
                pacer.snapshot if pacer is not None else None,
                lambda: health.ready().to_json(),
                settings.umask or 0,
            ),
            on_mounted=on_mounted,
            on_first_request=lambda: raise_read_ahead(mountpoint),
        )
        handle_control_signals(
            lambda: _on_hup(browse), lambda: _on_usr1(manager, pacer, health, prefetcher)
        )
        fuse_kwargs: dict[str, str | bool] = {
            "fsname": "boxzipfs",
            "subtype": "boxzipfs",
            "attr_timeout": "0",
            "entry_timeout": "0",
            "negative_timeout": "0",
            **fuse_options,
        }
        if fuse_major_version() == 3:
            # Unset, libfuse 3.14 logs "Ignoring invalid max threads value 4294967295" on every mount.
            fuse_kwargs.setdefault("max_idle_threads", "10")
        raise_open_files_limit()
        log.info("mounting at %s (state %s, cache %s)", mountpoint, state_dir, cache_dir)
        try:
            FUSE(operations, str(mountpoint), foreground=True, nothreads=False, raw_fi=True, **fuse_kwargs)
        except RuntimeError:
            if operations.mounted:  # libfuse3 returns non-zero after SIGINT/SIGTERM: a normal end
                log.info("unmounted %s", mountpoint)
                return 0
            raise MountError(
                f"FUSE could not mount at {mountpoint} (libfuse's reason is in the log)"
            ) from None
        log.info("unmounted %s", mountpoint)
        return 0
    return 1  # unreachable: the with block returns or raises


def spawn_background(
    argv: list[str], mountpoint: Path, log_path: Path, timeout: float = READY_TIMEOUT
) -> int:
    """Run ``boxzipfs ARGV --foreground`` detached; return once it says it mounted, or why not."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_start = log_path.stat().st_size if log_path.exists() else 0
    read_end, write_end = os.pipe()
    try:
        with log_path.open("ab") as log_file:
            child = subprocess.Popen(
                # -P: the installed package, never a folder named boxzipfs in the current directory.
                [sys.executable, "-P", "-m", "boxzipfs", *argv, "--foreground"],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
                pass_fds=(write_end,),
                env={**os.environ, readiness.ENV: str(write_end), LOG_FILE_ENV: str(log_path)},
            )
        os.close(write_end)
        for line in readiness.read_lines(read_end, timeout):
            if line.startswith("warning: "):
                print(f"boxzipfs: {line}", file=sys.stderr)
            elif line == "ready":
                print(f"boxzipfs: mounted at {mountpoint} (pid {child.pid}, log {log_path})")
                return 0
            elif line.startswith("error: "):
                print(f"boxzipfs: {line.removeprefix('error: ')}", file=sys.stderr)
                _show_fuse_reason(log_path, log_start)
                child.wait(10)
                return 1
            elif line == readiness.TIMEOUT:
                child.terminate()
                print(f"boxzipfs: not mounted within {timeout:g}s; see {log_path}", file=sys.stderr)
                return 1
        code = child.wait(10)
        print(f"boxzipfs: the mount daemon exited ({code}) before mounting; see {log_path}", file=sys.stderr)
        return 1
    finally:
        os.close(read_end)


def _show_fuse_reason(log_path: Path, start: int) -> None:
    """libfuse writes its own reason (``fuse: mountpoint is not empty``) to the log: show it."""
    try:
        with log_path.open("rb") as handle:
            handle.seek(start)
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        return
    for line in lines:
        if line.startswith(("fuse:", "fusermount")):
            print(f"boxzipfs: {line}", file=sys.stderr)

"""Where a mount keeps its state (definitions, log) and its cache (spools).

Default directory names are the mountpoint's absolute path with ``%`` and ``/``
percent-escaped: reversible, so two mountpoints never share a directory
(``/x/c_d`` and ``/x/c/d`` become ``%2Fx%2Fc_d`` and ``%2Fx%2Fc%2Fd``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)
MAX_NAME = 200  # file names stop at 255 bytes; long paths keep a prefix plus a digest


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


def mount_key(mountpoint: Path) -> str:
    """A directory name that only this absolute mountpoint path maps to."""
    key = quote(str(mountpoint.resolve()), safe="")
    if len(key) > MAX_NAME:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        key = f"{key[: MAX_NAME - 33]}~{digest}"
    return key


def _legacy_key(mountpoint: Path) -> str:
    """The name 0.1.0 used, which let ``/x/c_d`` and ``/x/c/d`` collide."""
    return str(mountpoint.resolve()).strip("/").replace("/", "_") or "root"


def default_state_dir(mountpoint: Path) -> Path:
    return _adopt_legacy(_xdg("XDG_STATE_HOME", ".local/state") / "boxzipfs" / "mounts", mountpoint)


def default_cache_dir(mountpoint: Path) -> Path:
    return cache_base() / mount_key(mountpoint)


def _adopt_legacy(base: Path, mountpoint: Path) -> Path:
    """The state dir; one of 0.1.0's is renamed to the new name so no definition is lost."""
    new, old = base / mount_key(mountpoint), base / _legacy_key(mountpoint)
    if not new.exists() and old.is_dir() and old != new:
        try:
            old.rename(new)
            log.warning("moved the state of %s from %s to %s", mountpoint, old, new)
        except OSError as exc:
            log.warning("could not move the old state dir %s: %s", old, exc.strerror)
    return new


def state_dir_for(configured: str | None, mountpoint: Path) -> Path:
    return Path(configured).expanduser().resolve() if configured else default_state_dir(mountpoint)


def cache_dir_for(configured: str | None, mountpoint: Path) -> Path:
    return Path(configured).expanduser().resolve() if configured else default_cache_dir(mountpoint)


def pid_file(mountpoint: Path) -> Path:
    """Where the daemon of ``mountpoint`` writes its process ID, so ``boxzipfs unmount`` can wait
    for it to end (its locks go with it). In the runtime directory: gone at reboot."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/boxzipfs-{os.getuid()}"
    return Path(runtime) / "boxzipfs" / f"{mount_key(mountpoint)}.pid"


def cache_base() -> Path:
    """Where default cache directories live (one per mountpoint)."""
    return _xdg("XDG_CACHE_HOME", ".cache") / "boxzipfs"

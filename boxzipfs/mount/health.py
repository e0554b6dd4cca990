"""Is the daemon alive, and is it ready to serve? ``/healthz`` and ``/readyz`` beside the
metrics, the root's ``user.boxzipfs.health`` xattr and ``boxzipfs status --check``.

Alive: the daemon's own FUSE loop answers: a worker stats the mount point, and a
stat that does not come back within ``LIVE_TIMEOUT`` means a stuck loop (a
second probe while one still hangs fails at once rather than piling up threads).
Ready: the credentials were valid at the last check (the outcome of the mount's
own API calls, or a check when none was made for ``RECHECK_SECONDS``), the
fleet's Redis answers when one is configured, the cache directory is writable,
and it has at least ``MIN_FREE`` bytes free.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from boxzipfs.client.credentials import CredentialState
from boxzipfs.errors import AuthError, BoxZipError, Forbidden, Unauthorized

LIVE_TIMEOUT = 5.0
RECHECK_SECONDS = 60.0
MIN_FREE = 64 << 20


@dataclass
class Verdict:
    ok: bool
    checks: dict[str, str]  # name -> "ok" or the reason it fails

    def to_json(self) -> dict[str, object]:
        failing = {k: v for k, v in self.checks.items() if v != "ok"}
        return {"ok": self.ok, "checks": self.checks, "reason": "; ".join(failing.values()) or "ok"}


def stat_within(path: Path, timeout: float, busy: threading.Lock) -> str:
    """ "ok" if ``path`` stats within ``timeout``, else why not (never blocks past it)."""
    if not busy.acquire(blocking=False):
        return "the FUSE loop did not answer an earlier probe yet"
    outcome: list[str] = []

    def probe() -> None:
        try:
            os.stat(path)
            outcome.append("ok")
        except OSError as exc:
            outcome.append(f"stat of the mount point failed: {exc.strerror}")
        finally:
            busy.release()

    worker = threading.Thread(target=probe, name="health-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else f"the FUSE loop did not answer within {timeout:g} s"


class Health:
    """The daemon's verdicts; ``check_credentials`` is one cheap API call."""

    def __init__(
        self,
        mountpoint: Path,
        cache_dir: Path,
        credentials: CredentialState,
        check_credentials: Callable[[], None] | None,
        redis_reachable: Callable[[], str | None] | None = None,
    ) -> None:
        self.mountpoint = mountpoint
        self.cache_dir = cache_dir
        self.credentials = credentials
        self._check_credentials = check_credentials
        self._redis_reachable = redis_reachable
        self._probing = threading.Lock()  # held while a liveness stat is out

    def alive(self) -> Verdict:
        result = stat_within(self.mountpoint, LIVE_TIMEOUT, self._probing)
        return Verdict(result == "ok", {"fuse_loop": result})

    def _credentials(self) -> str:
        valid, reason, checked = self.credentials.snapshot()
        stale = valid is None or time.monotonic() - checked > RECHECK_SECONDS
        if self._check_credentials is not None and stale:
            try:
                self._check_credentials()
                self.credentials.record(True)
            except (Unauthorized, Forbidden, AuthError) as exc:
                self.credentials.record(False, f"Box refused the credentials: {exc}")
            except BoxZipError as exc:  # unreachable or failing: the last verdict stands
                if valid is None:
                    return f"the credentials could not be checked: {exc}"
            valid, reason, _ = self.credentials.snapshot()
        return "ok" if valid is not False else reason

    def _cache(self) -> str:
        try:
            with tempfile.TemporaryFile(dir=self.cache_dir, prefix=".health-"):
                pass
            st = os.statvfs(self.cache_dir)
        except OSError as exc:
            return f"the cache directory {self.cache_dir} is not writable: {exc.strerror}"
        free = st.f_bavail * st.f_frsize
        if free < MIN_FREE:
            return f"the cache directory's disk is full ({free >> 20} MiB free)"
        return "ok"

    def ready(self) -> Verdict:
        checks = {"credentials": self._credentials(), "cache": self._cache()}
        if self._redis_reachable is not None:
            checks["redis"] = self._redis_reachable() or "ok"
        return Verdict(all(v == "ok" for v in checks.values()), checks)

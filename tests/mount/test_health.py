"""The daemon's verdicts without a mount: the cache check, a probe that is still out, and
systemd's STATUS= line (the end-to-end probes are in test_operable.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from boxzipfs.client.credentials import CredentialState
from boxzipfs.mount import health
from boxzipfs.mount.daemon import _status_line
from boxzipfs.mount.health import Health, stat_within


def test_a_full_cache_disk_and_a_missing_cache_directory_are_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = CredentialState()
    credentials.record(True)
    ready = Health(tmp_path, tmp_path, credentials, None).ready()
    assert ready.ok and ready.checks == {"credentials": "ok", "cache": "ok"}
    monkeypatch.setattr(health, "MIN_FREE", 1 << 62)
    full = Health(tmp_path, tmp_path, credentials, None).ready()
    assert not full.ok and "disk is full" in full.checks["cache"]
    gone = Health(tmp_path, tmp_path / "gone", credentials, None).ready()
    assert not gone.ok and "is not writable" in gone.checks["cache"]


def test_a_probe_while_the_last_one_is_still_out_fails_at_once(tmp_path: Path) -> None:
    busy = threading.Lock()
    assert stat_within(tmp_path, 1.0, busy) == "ok"
    busy.acquire()  # as if the last stat hung in the FUSE loop
    assert stat_within(tmp_path, 1.0, busy) == "the FUSE loop did not answer an earlier probe yet"


class _Gauges:
    def __init__(self, active: int, queued: int, cached: int) -> None:
        self.values = {"downloads_active": active, "downloads_queued": queued, "cache_bytes": cached}

    def gauges(self) -> dict[str, float]:
        return dict(self.values)


def test_systemds_status_line_says_what_the_mount_is_doing() -> None:
    assert _status_line(_Gauges(0, 0, 5 << 20)) == "idle; 5 MiB cached"  # type: ignore[arg-type]
    line = _status_line(_Gauges(2, 1, 340 << 20))  # type: ignore[arg-type]
    assert line == "2 downloads streaming, 1 queued; 340 MiB cached"

"""Default state and cache directory names: distinct per mountpoint, old ones adopted."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from boxzipfs.mount.paths import default_cache_dir, default_state_dir, mount_key


def test_names_are_reversible_and_never_collide() -> None:
    paths = [Path("/x/c_d"), Path("/x/c/d"), Path("/x/c%2Fd"), Path("/x/c d")]
    keys = [mount_key(p) for p in paths]
    assert len(set(keys)) == len(keys)
    assert [unquote(k) for k in keys] == [str(p) for p in paths]
    assert all("/" not in k for k in keys)
    long = Path("/" + "a" * 300)
    assert len(mount_key(long)) <= 200 and mount_key(long) != mount_key(Path("/" + "a" * 301))


def test_a_state_dir_of_0_1_0_is_adopted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mountpoint = tmp_path / "mnt" / "box"
    legacy = tmp_path / "state" / "boxzipfs" / "mounts" / str(mountpoint).strip("/").replace("/", "_")
    (legacy / "requests" / "nightly").mkdir(parents=True)
    (legacy / "requests" / "nightly" / "request.json").write_text('{"items": []}')
    state = default_state_dir(mountpoint)
    assert state.name == mount_key(mountpoint)
    assert (state / "requests" / "nightly" / "request.json").read_text() == '{"items": []}'
    assert not legacy.exists()
    assert default_cache_dir(mountpoint) == tmp_path / "cache" / "boxzipfs" / mount_key(mountpoint)

"""The option table drives every form of every option: flag, config key, fstab key, variable.

The walk below reads each option in each form it claims and checks the value that
reaches the settings, so an option added to the table cannot drift from its forms.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from boxzipfs.cli.fstab import HelperUsage, helper_argv
from boxzipfs.cli.main import _settings, build_parser
from boxzipfs.config import Settings, load_settings
from boxzipfs.options import OPTIONS, Option, parse_bool, parse_size

# Options whose values have a shape of their own.
SAMPLES: dict[str, tuple[str, Any, Any]] = {
    "uid": ("1234", 1234, 1234),
    "gid": ("4321", 4321, 4321),
    "umask": ("027", "027", 0o027),
    "log_format": ("json", "json", "json"),
}


def sample(option: Option) -> tuple[str, Any, Any]:
    """(text form, TOML form, expected value) of a value unlike the default."""
    if option.name in SAMPLES:
        return SAMPLES[option.name]
    if option.switch:
        return "", True, True
    if isinstance(option.default, frozenset):
        return "cat:rsync", ["cat", "rsync"], frozenset({"cat", "rsync"})
    if option.parse is parse_size:
        return "3M", "3M", 3 << 20
    if isinstance(option.default, int) and not isinstance(option.default, bool):
        return "7", 7, 7
    if isinstance(option.default, float):
        return "2.5", 2.5, 2.5
    text = f"/tmp/sample-{option.name}"
    return text, text, text


def from_flag(option: Option, text: str) -> Settings:
    argv = ["mount", "/mnt/x", str(option.flag), *([text] if not option.switch else [])]
    return _settings(build_parser().parse_args(argv))


def test_every_option_is_a_settings_field_and_back() -> None:
    names = [o.name for o in OPTIONS]
    assert len(names) == len(set(names))
    assert set(names) == {f.name for f in fields(Settings)} - {"requests", "source"}
    defaults = Settings()
    for option in OPTIONS:
        assert getattr(defaults, option.name) == option.default, option.name


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.flag], ids=lambda o: o.name)
def test_each_flag(option: Option, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    text, _, expected = sample(option)
    assert getattr(from_flag(option, text), option.name) == expected


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.section is not None], ids=lambda o: o.name)
def test_each_config_key(option: Option, tmp_path: Path) -> None:
    _, value, expected = sample(option)
    path = tmp_path / "config.toml"
    line = f"{option.name} = {json.dumps(value)}\n"
    path.write_text(line if not option.section else f"[{option.section}]\n{line}")
    assert getattr(load_settings(path, environ={}), option.name) == expected


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.fstab], ids=lambda o: o.name)
def test_each_fstab_key(option: Option, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    text, _, expected = sample(option)
    key = option.name if option.switch else f"{option.name}={text}"
    argv = helper_argv(["box", "/mnt/x", "-o", f"allow_other,{key},_netdev"])
    assert argv[-2:] == ["-o", "allow_other"]  # the rest is FUSE's; mount(8)'s own is dropped
    settings = _settings(build_parser().parse_args(argv))
    assert getattr(settings, option.name) == expected
    with pytest.raises(HelperUsage):  # a value where none belongs, or none where one does
        helper_argv(["box", "/mnt/x", "-o", option.name if not option.switch else f"{option.name}=1"])


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.env], ids=lambda o: o.name)
def test_each_environment_variable(option: Option, tmp_path: Path) -> None:
    text, _, expected = sample(option)
    path = tmp_path / "config.toml"
    path.write_text("")
    assert getattr(load_settings(path, environ={str(option.env): text or "true"}), option.name) == expected


def test_mount_help_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["mount", "--help"])
    shown = capsys.readouterr().out
    assert [o.flag for o in OPTIONS if o.flag and o.flag not in shown] == []


def test_the_environment_loses_to_a_flag_and_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "boxzipfs" / "config.toml"
    config.parent.mkdir()
    config.write_text('[mount]\nredis_url = "redis://file:1/0"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("BOXZIPFS_REDIS_URL", "redis://env:1/0")
    assert _settings(build_parser().parse_args(["mount", "/m"])).redis_url == "redis://env:1/0"
    flagged = build_parser().parse_args(["mount", "/m", "--redis", "redis://flag:1/0"])
    assert _settings(flagged).redis_url == "redis://flag:1/0"


def test_bad_values_name_the_option(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[mount]\nmax_downloads = true\n")
    with pytest.raises(Exception, match="max_downloads"):
        load_settings(path, environ={})
    assert parse_bool("yes") is True
    with pytest.raises(ValueError, match="not true or false"):
        parse_bool("maybe")

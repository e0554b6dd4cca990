"""Settings from the config file, the environment and flags; the fstab helper form."""

from __future__ import annotations

from pathlib import Path

import pytest

from boxzipfs.cli.fstab import HelperUsage, helper_argv
from boxzipfs.config import ConfigError, Settings, load_settings, parse_size
from boxzipfs.models import ZipItem

CONFIG = """
api_url = "http://127.0.0.1:9"

[auth]
token_file = "~/token"
client_secret = "s3cret"

[mount]
cache_size = "2G"
max_downloads = 3
wait_for_size = true

[requests.reports]
items = ["folder:12", "file:34"]
download_file_name = "Reports"
allow_skips = true
"""


def test_config_file_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    settings = load_settings(path)
    assert (settings.api_url, settings.cache_size, settings.max_downloads) == (
        "http://127.0.0.1:9",
        2 << 30,
        3,
    )
    assert settings.wait_for_size is True
    spec = settings.requests["reports"]
    assert spec.request.items == (ZipItem("folder", "12"), ZipItem("file", "34"))
    assert spec.allow_skips is True
    flagged = settings.override(max_downloads=1, cache_size=None)
    assert (flagged.max_downloads, flagged.cache_size) == (1, 2 << 30)
    shown = settings.shown()
    assert shown["client_secret"] == "***"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(shown)


def test_environment_wins_over_the_file_for_auth(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    env = load_settings(path).auth_env({"BOX_ACCESS_TOKEN": "from-env", "HOME_UNRELATED": "x"})
    assert env["BOX_ACCESS_TOKEN"] == "from-env"
    assert env["BOX_TOKEN_FILE"] == str(Path("~/token").expanduser())
    assert env["BOX_CLIENT_SECRET"] == "s3cret"
    assert "HOME_UNRELATED" not in env


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("nonsense = 1", "unknown settings nonsense"),
        ("[mount]\ncache_size = 'lots'", "not a size"),
        ("[auth]\npassword = 'x'", "unknown \\[auth\\] setting 'password'"),
        ("[requests.r]\nitems = ['folder:x']", "folder:ID or file:ID"),
        ("api_url = ", "cannot read config file"),
    ],
)
def test_bad_config_files_say_what_is_wrong(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_settings(path)


def test_missing_default_config_is_fine_but_an_explicit_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_settings(None) == Settings()
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")


def test_sizes() -> None:
    assert [parse_size(s) for s in ("512", "64K", "16M", "1.5G", "2GiB")] == [
        512,
        64 << 10,
        16 << 20,
        3 << 29,
        2 << 30,
    ]


def test_helper_form_translates_fstab_options() -> None:
    argv = helper_argv(
        [
            "local:/srv/box",
            "/mnt/box",
            "-o",
            "rw,noauto,_netdev,cache_size=2G,wait_for_size,allow_other,x-systemd.automount",
        ]
    )
    assert argv == [
        "mount", "/mnt/box", "--local", "/srv/box",
        "--cache-size", "2G", "--wait-for-size", "-o", "allow_other",
    ]  # fmt: skip
    assert helper_argv(["box", "/mnt/b", "-oconfig=/etc/b.toml"]) == [
        "mount",
        "/mnt/b",
        "--config",
        "/etc/b.toml",
    ]
    with pytest.raises(HelperUsage):
        helper_argv(["ftp://x", "/mnt"])
    with pytest.raises(HelperUsage):
        helper_argv(["box"])


def test_request_option_is_validated_like_request_add() -> None:
    from boxzipfs.cli.arguments import parse_request_option
    from boxzipfs.errors import RequestInvalid, RequestTooLarge

    name, spec = parse_request_option("reports=folder:12, file:34")
    assert name == "reports"
    assert spec.request.items == (ZipItem("folder", "12"), ZipItem("file", "34"))
    assert spec.request.download_file_name == "reports"
    with pytest.raises(RequestInvalid, match="NAME=folder:ID"):
        parse_request_option("reports")
    with pytest.raises(RequestTooLarge):
        parse_request_option("many=" + ",".join(f"file:{i}" for i in range(10_001)))


def test_fstab_sources_that_mount8_cannot_mistake_for_paths() -> None:
    assert helper_argv(["boxzipfs:", "/mnt/b"]) == ["mount", "/mnt/b"]
    assert helper_argv(["boxzipfs:local:/srv/x", "/mnt/b"]) == ["mount", "/mnt/b", "--local", "/srv/x"]
    # mount(8) turned an old-style 'box' into $PWD/box: still the account, never a path
    assert helper_argv(["/home/ann/box", "/mnt/b"]) == ["mount", "/mnt/b"]
    with pytest.raises(HelperUsage, match="boxzipfs:local:DIR"):
        helper_argv(["/home/ann/boxes", "/mnt/b"])

"""The one table of boxzipfs's settings: every option declared once.

Each row names an option and says how it is read (its parser), its default, its
help, and the forms it takes: a command-line flag, a config-file key (at the top,
under ``[auth]`` or under ``[mount]``), an option of an fstab line, an
environment variable. The command line (:mod:`boxzipfs.cli.main`), the config
file reader (:mod:`boxzipfs.config`), the fstab helper (:mod:`boxzipfs.cli.fstab`)
and the settings objects all come from this table, and a test walks it, so an
option added here works in every form it claims.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boxzipfs.errors import BoxZipError

DEFAULT_API_URL = "https://api.box.com"


class OptionError(BoxZipError):
    """An option's value cannot be read."""


def parse_size(text: str | int) -> int:
    """``123``, ``64K``, ``16M``, ``2G``, ``1T`` (binary units) as bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    value = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    try:
        if value and value[-1] in units:
            return int(float(value[:-1]) * units[value[-1]])
        return int(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a size like 512M or 10G") from None


def parse_bool(value: str | bool) -> bool:
    """A TOML boolean, or true/false/yes/no/1/0 as text (environment, fstab)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def _text(value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"{value!r} is not text")
    return str(value)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _text(value).strip().lower()
        if text not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return text

    return parse


def _id(value: Any) -> int:
    number = _int(value)
    if not 0 <= number < 2**32 - 1:
        raise ValueError(f"{value!r} is not a user or group ID")
    return number


def _umask(value: Any) -> int:
    """An octal mask as fstab and mount(8) write it: ``022``, ``0027``, ``0o077``."""
    text = _text(value).strip().lower().removeprefix("0o")
    try:
        mask = int(text, 8)
    except ValueError:
        raise ValueError(f"{value!r} is not an octal mask like 022") from None
    if not 0 <= mask <= 0o777:
        raise ValueError(f"{value!r} is not an octal mask like 022")
    return mask


def _names(value: Any) -> frozenset[str]:
    """Names separated by commas or colons (an fstab option cannot hold a comma), or a TOML list."""
    items = value if isinstance(value, list) else str(value).replace(":", ",").split(",")
    names = frozenset(str(item).strip() for item in items if str(item).strip())
    if not names:
        raise ValueError("no names given")
    return names


# Each checked to read an archive to its end with st_size 0 (tests/unattended/).
DEFAULT_STREAMING_READERS = frozenset(
    {"cat", "cp", "dd", "python", "python3", "python3.11", "python3.12", "python3.13", "sha256sum", "md5sum"}
)


@dataclass(frozen=True)
class Option:
    """One setting and the forms it takes.

    ``section``: where the config file holds it ("" top level, "auth", "mount"; None: not in
    the file). ``flag``: its command-line flag (None: no flag). ``fstab``: whether an fstab
    line may give it as ``name=value`` (or ``name`` for a switch). ``env``: the environment
    variable that sets it (it wins over the file, loses to a flag). ``switch``: a flag that
    takes no value. ``secret``: masked in ``config show``; credentials have no flag at all (a
    process's arguments are visible to every user), and a flag that may carry one refuses it.
    """

    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    section: str | None = "mount"
    flag: str | None = None
    fstab: bool = False
    env: str | None = None
    switch: bool = False
    secret: bool = False
    metavar: str | None = None
    group: str | None = None  # the --help group it is listed in

    def read(self, value: Any, where: str) -> Any:
        """``value`` parsed, or OptionError naming the option and where it came from."""
        try:
            return self.parse(value)
        except (TypeError, ValueError) as exc:
            raise OptionError(f"{where} {self.name}: {exc}") from None


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _mount(
    name: str,
    parse: Callable[[Any], Any],
    default: Any,
    help: str,
    *,
    flag: str | None = "",
    fstab: bool = True,
    section: str | None = "mount",
    **more: Any,
) -> Option:
    """A ``[mount]`` option that is also a flag (named after it unless given) and an fstab key."""
    return Option(name, parse, default, help, section, _flag(name) if flag == "" else flag, fstab, **more)


def _auth(name: str, env: str, help: str, secret: bool = False) -> Option:
    """An ``[auth]`` option: config file and environment only (credentials never go in argv)."""
    return Option(name, _text, None, help, "auth", None, False, env, secret=secret)


OPTIONS: tuple[Option, ...] = (
    Option(
        "api_url", _text, DEFAULT_API_URL, "Box API root, as Box's SDKs take it", "", "--api-url", True,
    ),
    Option(
        "ca_file", _text, None,
        "a CA certificate file (PEM) trusted besides the system's (a proxy's or a test server's)",
        "", "--ca-file", True, metavar="FILE",
    ),
    Option(
        "proxy", _text, None,
        "the HTTP(S) proxy for every request (HTTPS_PROXY and NO_PROXY are honoured without it); "
        "one with a password goes in the config file, never on a command line",
        "", "--proxy", True, secret=True, metavar="URL",
    ),
    Option(
        "local", _text, None, "serve this folder on an embedded Box-compatible server instead of Box",
        "", None, False, metavar="DIR",
    ),  # the flag (--local DIR) and the fstab source (boxzipfs:local:DIR) are the command's own
    _auth("access_token", "BOX_ACCESS_TOKEN", "a developer or static access token", secret=True),
    _auth("token_file", "BOX_TOKEN_FILE", "a file holding a developer or static access token"),
    _auth("client_id", "BOX_CLIENT_ID", "the Box app's client ID"),
    _auth("client_secret", "BOX_CLIENT_SECRET", "the Box app's client secret", secret=True),
    _auth("client_secret_file", "BOX_CLIENT_SECRET_FILE", "a file holding the client secret"),
    _auth("refresh_token_store", "BOX_REFRESH_TOKEN_STORE", "where the rotating refresh token is kept"),
    _auth("subject_type", "BOX_SUBJECT_TYPE", "client credentials: enterprise or user"),
    _auth("subject_id", "BOX_SUBJECT_ID", "client credentials: the enterprise or user ID"),
    _auth(
        "jwt_config", "BOX_JWT_CONFIG",
        "a JWT app's config file (the JSON Box's developer console downloads); its enterprise's "
        "service account, or the user of subject_type = user and subject_id",
    ),
    Option(
        "as_user", _text, None,
        "act for this Box user ID (Box's As-User header on every API call; the credentials must be "
        "an admin's or a service account's of the user's enterprise)",
        "auth", "--as-user", True, "BOX_AS_USER", metavar="USER_ID",
    ),
    _mount("state_dir", _text, None, "where request definitions and the log live"),
    _mount("cache_dir", _text, None, "where archives are spooled"),
    _mount("cache_size", parse_size, 10 << 30, "disk kept for completed archives"),
    _mount("buffer_size", parse_size, 1 << 20, "bytes gathered from the network per spool write"),
    _mount("max_downloads", _int, 5, "concurrent Box downloads of this mount"),
    _mount(
        "api_calls_per_minute", _int, 900,
        "Box API calls this mount makes per minute at most, spread evenly (Box allows about 1,000 "
        "per user; with --redis the fleet's hosts share it)",
    ),
    _mount("reuse_seconds", _float, 120.0, "serve a completed archive again for this long"),
    _mount("queue_deadline", _float, 600.0, "seconds to keep retrying Box's 429s"),
    _mount("stall_timeout", _float, 60.0, "seconds without bytes before a stream is broken"),
    _mount(
        "abandon_seconds", _float, 10.0,
        "keep downloading this long after the last reader closed early, then stop",
    ),
    _mount(
        "list_ttl", _float, 60.0,
        "seconds a Box folder listing (browse/, archives/) is reused before it is fetched anew",
    ),
    _mount(
        "prefetch_after", _int, 2,
        "browse/: when this many files of one folder were opened within a minute, fetch the folder's "
        "other small files in one zip download (0: never)",
        group="browse",
    ),
    _mount("prefetch_threshold", parse_size, 8 << 20,
           "browse/: files larger than this keep their own download", group="browse"),
    _mount("prefetch_max_files", _int, 1000, "browse/: files one prefetch fetches at most", group="browse"),
    _mount("prefetch_max_bytes", parse_size, 512 << 20, "browse/: bytes one prefetch fetches at most",
           group="browse"),
    _mount(
        "browse_cache_share", _float, 0.25,
        "the share of --cache-size that keeps browse files across remounts (by Box file ID and SHA-1); "
        "archives have the rest",
        group="browse",
    ),
    _mount(
        "resume_attempts", _int, 3,
        "times a broken stream is resumed (a new create, its first bytes checked against those "
        "received) before the read fails; 0 turns resuming off",
    ),
    _mount(
        "wait_for_size", parse_bool, False,
        "stat/open of request.zip wait for the whole archive, for seeking tools (the default for "
        "requests whose request.json does not say)",
        switch=True,
    ),
    _mount(
        "streaming_readers", _names, DEFAULT_STREAMING_READERS,
        "programs (by process name) known to read an archive to its end, whatever its size says: "
        "they stream a request.zip or archives/X.zip as it arrives; any other program's fstat of an "
        "open archive waits for its exact size (rsync, tar, scp trust it)",
        metavar="NAME,...",
    ),
    _mount(
        "redis_url", _text, None,
        "share the account's download budget with every mount of the fleet through this Redis "
        "(redis:// or rediss://; a URL with a password goes in the config file or BOXZIPFS_REDIS_URL)",
        flag="--redis", env="BOXZIPFS_REDIS_URL", secret=True, metavar="URL", group="fleet",
    ),
    _mount("fleet", _text, None, "the fleet's name (default: one per Box account and API)", group="fleet"),
    _mount("user_concurrency", _int, 5, "downloads per Box user, fleet-wide", group="fleet"),
    _mount("enterprise_concurrency", _int, 10, "downloads per enterprise, fleet-wide", group="fleet"),
    _mount("lease_seconds", _float, 30.0, "a dead host's leases lapse after this", group="fleet"),
    _mount(
        "metrics_addr", _text, None, "serve Prometheus metrics here (HOST defaults to 127.0.0.1)",
        metavar="[HOST:]PORT",
    ),
    _mount(
        "requests_file", _text, None, "JSON object of NAME: request.json body", section=None,
    ),
    _mount(
        "uid", _id, None,
        "the owner every file and folder shows (default: the user who mounts); with uid, gid or umask "
        "the kernel enforces the modes (default_permissions)",
        metavar="UID",
    ),
    _mount("gid", _id, None, "the group every file and folder shows (default: the mounting user's)",
           metavar="GID"),
    _mount(
        "umask", _umask, None,
        "bits taken from every mode (022: others read; 027: the group reads, others nothing)",
        metavar="MASK",
    ),
    _mount(
        "log_format", _choice("text", "json"), "text",
        "text, or json: one object per line with the request, download ID and phase as fields",
        metavar="text|json",
    ),
    _mount("foreground", parse_bool, False, "stay in the foreground", section=None, switch=True),
)  # fmt: skip

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}
SECTIONS = ("", "auth", "mount")


def default(name: str) -> Any:
    """The table's default of ``name`` (settings objects take their defaults from here)."""
    return BY_NAME[name].default


def in_section(section: str) -> dict[str, Option]:
    """The options a config file may hold in ``section`` ("" for the top level)."""
    return {o.name: o for o in OPTIONS if o.section == section}


def with_env() -> dict[str, Option]:
    """Options an environment variable sets, by variable."""
    return {o.env: o for o in OPTIONS if o.env}


def fstab_options() -> dict[str, Option]:
    """Options an fstab line may give, by key."""
    return {o.name: o for o in OPTIONS if o.fstab}


def flag_options() -> tuple[Option, ...]:
    """Options of ``boxzipfs mount`` given as flags."""
    return tuple(o for o in OPTIONS if o.flag)

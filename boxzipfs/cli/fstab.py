"""The mount(8) helper form, for /etc/fstab entries of type ``fuse.boxzipfs``::

    box            /mnt/box    fuse.boxzipfs  config=/etc/boxzipfs/config.toml,allow_other  0 0
    local:/srv/box /mnt/local  fuse.boxzipfs  cache_size=2G,_netdev                        0 0

mount.fuse runs ``boxzipfs SOURCE MOUNTPOINT -o OPTIONS``. SOURCE is ``box`` (the
account of the config file and BOX_* settings) or ``local:DIR`` (the embedded
server over DIR). boxzipfs's own options are taken out of OPTIONS; mount(8)'s
bookkeeping options are dropped; the rest go to FUSE.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import MutableMapping

from boxzipfs.errors import BoxZipError

VALUE_OPTIONS = {
    "config": "--config",
    "api_url": "--api-url",
    "state_dir": "--state-dir",
    "cache_dir": "--cache-dir",
    "cache_size": "--cache-size",
    "buffer_size": "--buffer-size",
    "max_downloads": "--max-downloads",
    "reuse_seconds": "--reuse-seconds",
    "queue_deadline": "--queue-deadline",
    "stall_timeout": "--stall-timeout",
    "abandon_seconds": "--abandon-seconds",
    "list_ttl": "--list-ttl",
    "resume_attempts": "--resume-attempts",
    "requests_file": "--requests-file",
}
FLAG_OPTIONS = {"wait_for_size": "--wait-for-size", "foreground": "--foreground"}
MOUNT_ONLY = {"defaults", "auto", "noauto", "user", "users", "nouser", "_netdev", "nofail", "rw"}


class HelperUsage(BoxZipError):
    """The helper form was called with arguments it cannot read."""


def helper_environment(environ: MutableMapping[str, str]) -> None:
    """Give the helper the caller's own HOME and a PATH.

    For a ``user`` fstab entry mount(8) runs the helper as the user, but with
    HOME=/root and no PATH; the default config, state and cache dirs would then
    point into root's home. The passwd entry of the real user is the truth.
    """
    environ["HOME"] = pwd.getpwuid(os.getuid()).pw_dir
    environ.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")


def helper_argv(argv: list[str]) -> list[str]:
    """``SOURCE MOUNTPOINT [-o OPTS]...`` -> the equivalent ``mount ...`` argv."""
    positional: list[str] = []
    options: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "-o" and index + 1 < len(argv):
            options.extend(o for o in argv[index + 1].split(",") if o)
            index += 2
            continue
        if arg.startswith("-o") and len(arg) > 2:
            options.extend(o for o in arg[2:].split(",") if o)
        elif arg in ("-n", "-s", "-f", "-v"):  # mount.fuse's own flags: nothing to do
            pass
        else:
            positional.append(arg)
        index += 1
    if len(positional) != 2:
        raise HelperUsage("usage: boxzipfs SOURCE MOUNTPOINT [-o OPTIONS] (SOURCE: box or local:DIR)")
    source, mountpoint = positional
    out = ["mount", mountpoint]
    if source.startswith("local:"):
        out += ["--local", source.removeprefix("local:")]
    elif source != "box":
        raise HelperUsage(f"unknown source {source!r}: use 'box' or 'local:DIR'")
    fuse: list[str] = []
    for option in options:
        key, sep, value = option.partition("=")
        if key in VALUE_OPTIONS and sep:
            out += [VALUE_OPTIONS[key], value]
        elif key in FLAG_OPTIONS and not sep:
            out.append(FLAG_OPTIONS[key])
        elif key in MOUNT_ONLY or key.startswith(("x-", "comment")):
            continue
        else:
            fuse.append(option)
    if fuse:
        out += ["-o", ",".join(fuse)]
    return out

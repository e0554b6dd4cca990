"""The mount(8) helper form, for /etc/fstab entries of type ``fuse.boxzipfs``::

    boxzipfs:               /mnt/box    fuse.boxzipfs  config=/etc/boxzipfs/config.toml  0 0
    boxzipfs:local:/srv/box /mnt/local  fuse.boxzipfs  cache_size=2G,_netdev            0 0

mount.fuse runs ``boxzipfs SOURCE MOUNTPOINT -o OPTIONS``. SOURCE is ``boxzipfs:``
(the account of the config file and BOX_* settings) or ``boxzipfs:local:DIR`` (the
embedded server over DIR): a source mount(8) cannot mistake for a path (it turns a
bare ``box`` into ``$PWD/box`` when the current directory holds a ``box``). The
older ``box`` and ``local:DIR`` still work, and ``$PWD/box`` is read as ``box``.
boxzipfs's own options are taken out of OPTIONS; mount(8)'s bookkeeping options
are dropped; the rest go to FUSE. Every option of the table (:mod:`boxzipfs.options`)
marked for fstab is accepted, as ``key=value`` or, for a switch, ``key``.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import MutableMapping
from pathlib import Path

from boxzipfs.errors import BoxZipError
from boxzipfs.options import fstab_options

SOURCE_PREFIX = "boxzipfs:"
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
        raise HelperUsage(
            "usage: boxzipfs SOURCE MOUNTPOINT [-o OPTIONS] (SOURCE: boxzipfs: or boxzipfs:local:DIR)"
        )
    source, mountpoint = positional
    out = ["mount", mountpoint]
    source = source.removeprefix(SOURCE_PREFIX)
    if source.startswith("local:"):
        out += ["--local", source.removeprefix("local:")]
    elif source not in ("", "box") and not (source.startswith("/") and Path(source).name == "box"):
        raise HelperUsage(f"unknown source {source!r}: use 'boxzipfs:' or 'boxzipfs:local:DIR'")
    fuse: list[str] = []
    table = fstab_options()
    for option in options:
        key, sep, value = option.partition("=")
        known = table.get(key)
        if key == "config" and sep:
            out += ["--config", value]
        elif known is not None and known.switch and not sep:
            out.append(str(known.flag))
        elif known is not None and not known.switch and sep:
            out += [str(known.flag), value]
        elif known is not None:
            raise HelperUsage(
                f"fstab option {key!r} " + ("takes no value" if known.switch else "needs a value (key=value)")
            )
        elif key in MOUNT_ONLY or key.startswith(("x-", "comment")):
            continue
        else:
            fuse.append(option)
    if fuse:
        out += ["-o", ",".join(fuse)]
    return out

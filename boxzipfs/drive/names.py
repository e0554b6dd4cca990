"""Box names as file names, reversibly, and the archive names of folders.

Almost every Box name is its own file name, unicode and ``%`` included, so
``cp -r`` and ``diff -r`` see Box's names exactly. Only a name a file cannot
carry (one holding ``/`` or NUL, or ``.`` or ``..``: Box itself forbids them,
but another Box-compatible server might not) or one that already looks escaped
(holds ``%`` and two hex digits) is percent-escaped whole: ``%`` -> ``%25``,
``/`` -> ``%2F``, NUL -> ``%00``, ``.`` and ``..`` -> ``%2E`` and ``%2E%2E``. An
escaped name always holds ``%`` and two hex digits and a kept one never does, so
distinct Box names give distinct file names and ``box_name`` undoes
``file_name`` exactly.

Under ``archives/`` a folder shows twice: as a directory (to descend into) and as
``NAME.zip`` (its archive). So that a folder literally named ``X.zip`` beside a
folder ``X`` cannot collide, a directory name there never ends in ``.zip``: the
last dot of such a name is escaped (``X.zip`` -> directory ``X%2Ezip``, archive
``X.zip.zip``). Every ``*.zip`` entry under ``archives/`` is an archive; every
other entry is a directory.
"""

from __future__ import annotations

import re

ARCHIVE_SUFFIX = ".zip"
_UNSAFE = re.compile(r"[%/\x00]")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def _escaped(name: str) -> str:
    if name in (".", ".."):
        return "%2E" * len(name)
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", name)


def file_name(name: str) -> str:
    """The file name that shows the Box name ``name``."""
    if name in (".", "..") or "/" in name or "\x00" in name or _ESCAPE.search(name):
        return _escaped(name)
    return name


def box_name(local: str) -> str:
    """The Box name a file name made by ``file_name`` (or ``folder_dir_name``) shows."""
    if not _ESCAPE.search(local):
        return local
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), local)


def folder_dir_name(name: str) -> str:
    """A folder's directory name under ``archives/``: never ending in ``.zip``."""
    if not name.endswith(ARCHIVE_SUFFIX):
        return file_name(name)
    local = _escaped(name)  # escaped whole, so that box_name undoes it
    return local[: -len(ARCHIVE_SUFFIX)] + "%2E" + ARCHIVE_SUFFIX[1:]


def archive_name(name: str) -> str:
    """A folder's archive name under ``archives/``."""
    return file_name(name) + ARCHIVE_SUFFIX

"""The mount's paths in filesystem-neutral terms: a router of top-level trees.

Layout::

    /NAME/request.json     the definition (write it to define the request)
    /NAME/request.zip      the archive, streamed from Box when opened
    /NAME/status.json      live state of NAME's latest download
    /by-id/folder-ID/...   the same for one Box folder (or file-ID), no definition needed
    /browse/A/B.pdf        Box by name: folders and files (a file is read out of its own zip)
    /archives/A.zip        folder A as one archive (its by-id download); /archives/A/ descends

``MountView`` is what the FUSE skin calls, the way ratarmount's ``MountSource``
offers lookup/list/open under a thin FUSE class. It parses each path once, hands it
to the tree its first part names (:data:`TREES`; any other name is a request
directory, :class:`~boxzipfs.drive.trees.requests.Requests`) and answers the root's
own listing and attributes. Every decision about a path is its tree's, and every
refusal a :class:`~boxzipfs.errors.Refused` carrying its errno and the reason to log.
Nothing here knows FUSE. A new top-level tree is one module in ``trees/`` and one
line in :data:`TREES`.

request.zip is served as a non-seekable stream with direct I/O while its size is
unknown, so readers go to the true end of the archive (and sendfile, which would
trust st_size, fails over to plain reads); once complete its exact size is
reported and the page cache may keep it. Browse files have their exact size from
the folder listing, so they are ordinary cached files.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable

from boxzipfs.drive.browse import ARCHIVES, BROWSE
from boxzipfs.drive.drive import BY_ID, Drive
from boxzipfs.drive.openfiles import Entry, Opener, OpenFile
from boxzipfs.drive.trees.archives import Archives
from boxzipfs.drive.trees.base import At, Shared, Tree, Xattrs
from boxzipfs.drive.trees.browse import Browse
from boxzipfs.drive.trees.byid import ById
from boxzipfs.drive.trees.requests import Requests
from boxzipfs.errors import Refused

__all__ = ["API_XATTR", "HEALTH_XATTR", "TREES", "Entry", "MountView", "OpenFile"]

HEALTH_XATTR = "user.boxzipfs.health"  # on the mount's root: ready or not, and why (status --check)
API_XATTR = "user.boxzipfs.api"  # on the mount's root: its Box API calls by endpoint, and pacing

# The top-level trees by name, in the root's listing order; each is built from what they share.
TREES: dict[str, Callable[[Shared], Tree]] = {
    BY_ID: ById,
    BROWSE: Browse.build,
    ARCHIVES: Archives.build,
}


def _as_json(source: Callable[[], dict[str, object]]) -> Callable[[], bytes]:
    return lambda: json.dumps(source()).encode()


class MountView:
    """The mount's tree over a :class:`Drive`: routes each path to its tree, no FUSE."""

    def __init__(
        self,
        drive: Drive,
        owner: tuple[int, int],
        streaming_readers: frozenset[str],
        api_usage: Callable[[], dict[str, object]] | None = None,
        health: Callable[[], dict[str, object]] | None = None,
        umask: int = 0,
    ) -> None:
        self.drive = drive
        self.owner = owner  # (uid, gid) every file shows; chown to it changes nothing
        self.umask = umask  # bits taken from every mode shown
        shared = Shared(drive, Opener(streaming_readers))
        self._trees = {name: build(shared) for name, build in TREES.items()}
        self._requests = Requests(shared, owner)
        root = ((API_XATTR, api_usage), (HEALTH_XATTR, health))
        self._root_xattrs: Xattrs = {name: _as_json(source) for name, source in root if source is not None}

    def _route(self, path: str) -> tuple[Tree, At]:
        """The tree ``path`` is in, and the path as that tree sees it."""
        parts = tuple(part for part in path.split("/") if part)
        tree = self._trees.get(parts[0]) if parts else None
        if tree is None:
            return self._requests, At(path, parts)
        return tree, At(path, parts[1:])

    # -- looking up and listing ------------------------------------------------------

    def lookup(self, path: str) -> Entry:
        """The entry at ``path``; ENOENT if there is none."""
        tree, at = self._route(path)
        return tree.lookup(at)

    def listdir(self, path: str) -> list[str]:
        """The names in the directory at ``path``."""
        tree, at = self._route(path)
        names = tree.listdir(at)
        if tree is self._requests and not at.parts:  # the root: the trees, then the requests
            return [name for name, shown in self._trees.items() if shown.shown] + names
        return names

    # -- directories and files -----------------------------------------------------------

    def mkdir(self, path: str) -> None:
        tree, at = self._route(path)
        tree.mkdir(at)

    def rmdir(self, path: str) -> None:
        tree, at = self._route(path)
        tree.rmdir(at)

    def create(self, path: str) -> OpenFile:
        """A new file open for writing (request.json, or a scratch file beside it)."""
        tree, at = self._route(path)
        return tree.create(at)

    def open(self, path: str, writing: bool, truncate: bool, caller: int | None = None) -> OpenFile:
        """Open for reading or writing. ``caller``: the process's ID, which says whether its
        fstat may see an archive's unknown size."""
        tree, at = self._route(path)
        return tree.open(at, writing, truncate, caller)

    def truncate(self, path: str, length: int) -> None:
        tree, at = self._route(path)
        tree.truncate(at, length)

    def touch(self, path: str) -> None:
        tree, at = self._route(path)
        tree.touch(at)

    def chmod(self, path: str) -> None:
        tree, at = self._route(path)
        tree.chmod(at)

    def chown(self, path: str, uid: int, gid: int) -> None:
        tree, at = self._route(path)
        tree.chown(at, uid, gid)

    def unlink(self, path: str) -> None:
        tree, at = self._route(path)
        tree.unlink(at)

    def rename(self, old: str, new: str) -> None:
        """Within one tree; from one tree to another is refused by the read-only one."""
        source, at = self._route(old)
        target, to = self._route(new)
        if source is not target:
            raise Refused(errno.EROFS, source.read_only or target.read_only or "read-only")
        source.rename(at, to)

    # -- extended attributes ----------------------------------------------------------

    def _xattrs(self, path: str) -> Xattrs:
        tree, at = self._route(path)
        if tree is self._requests and not at.parts:
            return self._root_xattrs
        return tree.xattrs(at)

    def getxattr(self, path: str, name: str) -> bytes:
        value = self._xattrs(path).get(name)
        if value is None:
            raise Refused(errno.ENODATA, "no such attribute")
        return value()

    def listxattr(self, path: str) -> list[str]:
        return list(self._xattrs(path))

"""A local folder seen as a Box account.

IDs are inode numbers: numeric, stable across restarts and renames, with no state
file written into the served folder. The root folder is ``0``. A symlink whose
target lies inside the served folder is followed (it appears under its own name,
with its target's ID); one that leads outside it, dangles, or points at an
ancestor (a loop) is invisible, and so are special files.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cachetools import LRUCache

from boxzipfs.models import FolderEntry, ItemType

FOLDER_SIZE_SECONDS = 2.0  # a folder's size is walked again after this


@dataclass(frozen=True)
class Node:
    """A file or folder of the served tree."""

    type: ItemType
    id: str
    path: Path
    rel: str
    size: int
    mtime_ns: int = 0


class LocalStore:
    """Maps IDs to paths under ``root`` and lists folders."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"{root} is not a directory")
        self._index: dict[str, Path] = {}
        # Guards the ID map, the SHA-1 cache and the folder sizes.
        self._lock = threading.Lock()
        self._sha1: LRUCache[tuple[str, int, int], str] = LRUCache(maxsize=1 << 16)
        self._folder_sizes: dict[str, tuple[float, int]] = {}

    def node(self, path: Path) -> Node | None:
        """The node at ``path``, or None if it is not a regular file or folder."""
        try:
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = path.resolve(strict=True)
                if self.root not in target.parents:
                    return None  # outside the served folder (or the root itself)
                st = target.stat()
        except (OSError, RuntimeError):  # gone, dangling, or a loop of links
            return None
        rel = path.relative_to(self.root).as_posix() if path != self.root else ""
        if stat.S_ISDIR(st.st_mode):
            return Node("folder", "0" if path == self.root else str(st.st_ino), path, rel, 0, st.st_mtime_ns)
        if stat.S_ISREG(st.st_mode):
            return Node("file", str(st.st_ino), path, rel, st.st_size, st.st_mtime_ns)
        return None

    def resolve(self, kind: ItemType, ident: str) -> Node | None:
        """The node with this type and ID, re-indexing once on a miss."""
        if kind == "folder" and ident == "0":
            return self.node(self.root)
        for attempt in range(2):
            with self._lock:
                path = self._index.get(ident)
            node = self.node(path) if path is not None else None
            if node is not None and node.id == ident:
                return node if node.type == kind else None
            if attempt == 0:
                self._reindex()
        return None

    def _reindex(self) -> None:
        """ID -> path; an item reached through links is indexed at its own (link-free) path."""
        root = self.node(self.root)
        index: dict[str, Path] = {}
        for node in self.walk(root) if root else ():
            if node.id not in index or node.path == node.path.resolve():
                index[node.id] = node.path
        with self._lock:
            self._index = index

    def children(self, folder: Node) -> list[Node]:
        """Folder's children: folders first, then files, each sorted by name."""
        try:
            names = os.listdir(folder.path)
        except OSError:
            return []
        nodes = [n for n in (self.node(folder.path / name) for name in names) if n is not None]
        nodes.sort(key=lambda n: (n.type != "folder", n.path.name))
        return nodes

    def walk(self, folder: Node, _ancestors: frozenset[Path] = frozenset()) -> Iterator[Node]:
        """Every node under ``folder``, depth first, each folder before its contents.

        A linked folder that contains itself is listed but not entered again.
        """
        ancestors = _ancestors | {folder.path.resolve()}
        for child in self.children(folder):
            yield child
            if child.type == "folder" and child.path.resolve() not in ancestors:
                yield from self.walk(child, ancestors)

    def entry(
        self, node: Node, parent: Node | None = None, wanted: frozenset[str] | None = None
    ) -> FolderEntry:
        """The listing entry of ``node`` with what ``wanted`` asks for (None: Box's defaults):
        a file's SHA-1 and a folder's size (its files' bytes, as Box counts them) cost a read
        and a walk, so they are computed only when asked for, and cached."""
        modified = datetime.fromtimestamp(node.mtime_ns // 1_000_000_000, UTC).isoformat()
        up = None if parent is None else (parent.id, "All Files" if parent.id == "0" else parent.path.name)
        size = node.size
        if node.type == "folder" and wanted is not None and "size" in wanted:
            size = self.folder_size(node)
        sha1 = None
        if node.type == "file" and (wanted is None or {"sha1", "file_version"} & wanted):
            sha1 = self.sha1(node)
        version = str(node.mtime_ns // 1_000_000_000)  # changes when the item does
        return FolderEntry(node.type, node.id, node.path.name, size, modified, up, sha1, version, version)

    def sha1(self, node: Node) -> str | None:
        """The file's SHA-1 (hex), cached by its ID, size and time; None if it cannot be read."""
        key = (node.id, node.size, node.mtime_ns)
        with self._lock:
            cached = self._sha1.get(key)
        if cached is not None:
            return cached
        digest = hashlib.sha1(usedforsecurity=False)
        try:
            with node.path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
        except OSError:
            return None
        with self._lock:
            self._sha1[key] = digest.hexdigest()
        return digest.hexdigest()

    def folder_size(self, folder: Node) -> int:
        """The bytes of every file under ``folder``, kept for FOLDER_SIZE_SECONDS."""
        now = time.monotonic()
        with self._lock:
            cached = self._folder_sizes.get(folder.id)
        if cached is not None and now - cached[0] < FOLDER_SIZE_SECONDS:
            return cached[1]
        total = sum(node.size for node in self.walk(folder) if node.type == "file")
        with self._lock:
            self._folder_sizes[folder.id] = (now, total)
        return total

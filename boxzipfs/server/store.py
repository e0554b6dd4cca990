"""A local folder seen as a Box account.

IDs are inode numbers: numeric, stable across restarts and renames, with no state
file written into the served folder. The root folder is ``0``. A symlink whose
target lies inside the served folder is followed (it appears under its own name,
with its target's ID); one that leads outside it, dangles, or points at an
ancestor (a loop) is invisible, and so are special files.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from boxzipfs.models import FolderEntry, ItemType


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
        # Guards the ID maps of the served tree.
        self._lock = threading.Lock()

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

    @staticmethod
    def entry(node: Node, parent: Node | None = None) -> FolderEntry:
        modified = datetime.fromtimestamp(node.mtime_ns // 1_000_000_000, UTC).isoformat()
        up = None if parent is None else (parent.id, "All Files" if parent.id == "0" else parent.path.name)
        return FolderEntry(node.type, node.id, node.path.name, node.size, modified, up)

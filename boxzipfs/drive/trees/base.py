"""What every top-level tree offers the router, and the read-only base that refuses writes once."""

from __future__ import annotations

import errno
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, Protocol

from boxzipfs.drive.drive import Drive
from boxzipfs.drive.openfiles import Entry, Opener, OpenFile
from boxzipfs.errors import Refused

Parts = tuple[str, ...]
Xattrs = dict[str, Callable[[], bytes]]  # an extended attribute's name -> its value, made when read


@dataclass(frozen=True)
class At:
    """A path as one tree sees it: ``parts`` below the tree's own name, and the whole
    ``path`` the kernel gave (the page cache's versions and browse names are kept by it)."""

    path: str
    parts: Parts


@dataclass(frozen=True)
class Shared:
    """What the trees of one mount share: the drive, and how archives are opened."""

    drive: Drive
    opener: Opener


class Tree(Protocol):
    """One top-level tree of the mount (request directories, by-id/, browse/, archives/).

    Each operation gets the path once parsed (:class:`At`) and answers, or raises
    :class:`~boxzipfs.errors.Refused` with the errno and the reason to log.
    """

    @property
    def shown(self) -> bool:
        """Whether the root lists it (a tree may be reserved but absent)."""
        ...

    @property
    def read_only(self) -> str | None:
        """Why writes are refused here; None: the tree takes writes."""
        ...

    def lookup(self, at: At) -> Entry: ...

    def listdir(self, at: At) -> list[str]: ...

    def open(self, at: At, writing: bool, truncate: bool, caller: int | None) -> OpenFile: ...

    def xattrs(self, at: At) -> Xattrs: ...

    def mkdir(self, at: At) -> None: ...

    def rmdir(self, at: At) -> None: ...

    def create(self, at: At) -> OpenFile: ...

    def truncate(self, at: At, length: int) -> None: ...

    def touch(self, at: At) -> None: ...

    def chmod(self, at: At) -> None: ...

    def chown(self, at: At, uid: int, gid: int) -> None: ...

    def unlink(self, at: At) -> None: ...

    def rename(self, at: At, to: At) -> None:
        """Within this tree (the router refuses a rename from one tree to another)."""
        ...


class ReadOnlyTree(ABC):
    """A tree that mirrors something: reads are the subclass's, every write is refused here."""

    shown = True
    read_only: str | None = "this tree is read-only"

    def __init__(self, shared: Shared) -> None:
        self.drive = shared.drive
        self.opener = shared.opener

    def refuse(self) -> NoReturn:
        raise Refused(errno.EROFS, self.read_only or "read-only")

    def open(self, at: At, writing: bool, truncate: bool, caller: int | None) -> OpenFile:
        if writing:
            self.refuse()
        return self.open_read(at, caller)

    @abstractmethod
    def lookup(self, at: At) -> Entry: ...

    @abstractmethod
    def listdir(self, at: At) -> list[str]: ...

    @abstractmethod
    def open_read(self, at: At, caller: int | None) -> OpenFile: ...

    def xattrs(self, at: At) -> Xattrs:
        return {}

    def mkdir(self, at: At) -> None:
        self.refuse()

    def rmdir(self, at: At) -> None:
        self.refuse()

    def create(self, at: At) -> OpenFile:
        self.refuse()

    def truncate(self, at: At, length: int) -> None:
        self.refuse()

    def touch(self, at: At) -> None:
        self.refuse()

    def chmod(self, at: At) -> None:
        self.refuse()

    def chown(self, at: At, uid: int, gid: int) -> None:
        self.refuse()

    def unlink(self, at: At) -> None:
        self.refuse()

    def rename(self, at: At, to: At) -> None:
        self.refuse()


class Absent(ReadOnlyTree):
    """A reserved tree this mount does not have (browse/ and archives/ without a Box listing)."""

    shown = False

    def __init__(self, shared: Shared, read_only: str, missing: str) -> None:
        super().__init__(shared)
        self.read_only = read_only
        self._missing = missing

    def _absent(self) -> NoReturn:
        raise Refused(errno.ENOENT, self._missing)

    def lookup(self, at: At) -> Entry:
        self._absent()

    def listdir(self, at: At) -> list[str]:
        self._absent()

    def open_read(self, at: At, caller: int | None) -> OpenFile:
        self._absent()

    def xattrs(self, at: At) -> Xattrs:
        self._absent()

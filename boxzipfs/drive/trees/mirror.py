"""What browse/ and archives/ share: Box's folder listings, resolved by name, read-only."""

from __future__ import annotations

from abc import abstractmethod

from boxzipfs.drive.browse import BoxEntry, BrowseTree
from boxzipfs.drive.trees.base import Absent, At, ReadOnlyTree, Shared, Tree

BROWSE_READ_ONLY = "browse/ and archives/ mirror Box and are read-only"
NO_LISTINGS = "this mount has no browse tree"


class BoxMirror(ReadOnlyTree):
    """A read-only tree over Box's listings (:class:`~boxzipfs.drive.browse.BrowseTree`)."""

    read_only = BROWSE_READ_ONLY

    def __init__(self, shared: Shared, listings: BrowseTree) -> None:
        super().__init__(shared)
        self.listings = listings

    @classmethod
    def build(cls, shared: Shared) -> Tree:
        """The tree, or its absence when the mount lists nothing of Box."""
        if shared.drive.browse is None:
            return Absent(shared, BROWSE_READ_ONLY, NO_LISTINGS)
        return cls(shared, shared.drive.browse)

    @abstractmethod
    def resolve(self, at: At) -> BoxEntry:
        """The Box folder or file at ``at``; ENOENT (or ENOTDIR) if there is none."""

"""The FUSE binding: mfusepy (fusepy's maintained fork, same API) over libfuse3.

libfuse3 negotiates 1 MiB requests by itself (libfuse2 stops at 128 KiB) and
mounts for users other than root through ``fusermount3``. mfusepy loads
libfuse2 when both are installed unless ``FUSE_LIBRARY_NAME`` says otherwise,
so this module sets it before the import; everything that needs fuse imports
it from here.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

os.environ.setdefault("FUSE_LIBRARY_NAME", "fuse3")

from boxzipfs.errors import MountError

try:
    import mfusepy  # the library is chosen by the variable above
except OSError:  # mfusepy found no libfuse to load
    raise MountError(
        "libfuse3 is not installed: install the fuse3 package (Debian, Ubuntu: apt-get install fuse3; "
        "Fedora: dnf install fuse3) and mount again"
    ) from None

FuseOSError = mfusepy.FuseOSError
Operations = mfusepy.Operations
fuse_get_context = mfusepy.fuse_get_context


class FUSE(mfusepy.FUSE):  # type: ignore[misc]
    """mfusepy's FUSE, passing the open handle to ``truncate`` under libfuse3 as under libfuse2
    (mfusepy drops it, so ``ftruncate`` of an open request.json would look like a truncate by path)."""

    def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
        return int(self.ftruncate(path, length, fip) or 0)

    def read(self, path: bytes | None, buf: Any, size: int, offset: int, fip: Any) -> int:
        """Reads go into libfuse's own reply buffer (``operations.read_into``): mfusepy's way
        builds a bytes object per request and copies it there, a second copy of every byte."""
        address = ctypes.cast(buf, ctypes.c_void_p).value
        into = memoryview((ctypes.c_char * size).from_address(address or 0)).cast("B")
        name = None if path is None else path.decode(self.encoding, self.errors)
        count = int(self.operations.read_into(name, into, offset, fip.contents))
        assert count <= size
        return count


def fuse_major_version() -> int:
    """3 for libfuse3, 2 for libfuse2: the library mfusepy loaded."""
    return int(mfusepy.fuse_version_major)

"""Scratch files: the temporary file of a write-then-rename, bounded in size and number."""

from __future__ import annotations

import errno

import pytest

from boxzipfs.drive.scratch import MAX_SCRATCH_BYTES, MAX_SCRATCH_FILES, ScratchFiles
from boxzipfs.errors import Refused


def test_scratch_files_are_written_renamed_and_removed_per_request() -> None:
    files = ScratchFiles()
    scratch = files.create("r", "a.tmp")
    assert scratch.write(b"abc", 2) == 3 and bytes(scratch.data) == b"\0\0abc"
    scratch.truncate(1)
    assert bytes(scratch.data) == b"\0"
    files.rename("r", "a.tmp", "b.tmp")
    assert files.names("r") == ["b.tmp"] and files.get("r", "a.tmp") is None and files.names("s") == []
    files.remove("r", "b.tmp")
    assert files.names("r") == []
    files.create("r", "c")
    files.forget("r")
    assert files.get("r", "c") is None


def test_a_scratch_file_holds_at_most_a_definition_and_a_directory_a_few() -> None:
    files = ScratchFiles()
    scratch = files.create("r", "big")
    with pytest.raises(Refused) as raised:
        scratch.write(b"x", MAX_SCRATCH_BYTES)
    assert raised.value.errno == errno.EFBIG and len(scratch.data) == 0
    with pytest.raises(Refused) as raised:
        scratch.truncate(MAX_SCRATCH_BYTES + 1)
    assert raised.value.errno == errno.EFBIG
    for number in range(1, MAX_SCRATCH_FILES):
        files.create("r", str(number))
    with pytest.raises(Refused) as raised:
        files.create("r", "one too many")
    assert raised.value.errno == errno.ENOSPC
    assert len(files.names("r")) == MAX_SCRATCH_FILES

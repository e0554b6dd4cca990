"""The zip end-record check that tells a complete archive from a cut one."""

from __future__ import annotations

import io
import zipfile

from boxzipfs.download.zipcheck import TAIL_NEEDED, ends_with_end_record


def test_an_archive_ends_with_its_end_record_and_a_cut_one_does_not() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", b"hello" * 100)
        archive.comment = b"a comment"
    whole = buffer.getvalue()
    assert ends_with_end_record(whole[-TAIL_NEEDED:])
    assert not ends_with_end_record(whole[:-5])
    assert not ends_with_end_record(whole + b"x")  # a comment length that does not reach the end
    assert not ends_with_end_record(b"")

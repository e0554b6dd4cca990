"""Box names to file names: kept where possible, escaped reversibly where not, never colliding."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from boxzipfs.drive.names import archive_name, box_name, file_name, folder_dir_name


def test_ordinary_names_are_kept_as_they_are() -> None:
    for name in ("Q1.pdf", "ünï 100%.txt", "50%", "a b", "X.zip", ".hidden"):
        assert file_name(name) == name


def test_names_a_file_cannot_carry_are_escaped() -> None:
    assert file_name("a/b") == "a%2Fb"
    assert file_name("n\x00m") == "n%00m"
    assert file_name(".") == "%2E" and file_name("..") == "%2E%2E"
    assert file_name("100%25") == "100%2525"  # looks escaped: escaped, so it cannot collide


def test_archives_dirs_never_end_in_zip() -> None:
    assert folder_dir_name("X") == "X" and archive_name("X") == "X.zip"
    assert folder_dir_name("X.zip") == "X%2Ezip" and archive_name("X.zip") == "X.zip.zip"


names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)


@given(names, names)
def test_mapping_is_reversible_and_never_collides(a: str, b: str) -> None:
    for mapping in (file_name, folder_dir_name):
        assert box_name(mapping(a)) == a
        assert "/" not in mapping(a) and "\x00" not in mapping(a) and mapping(a) not in (".", "..")
        if a != b:
            assert mapping(a) != mapping(b)
    assert not folder_dir_name(a).endswith(".zip")
    if a != b:
        assert archive_name(a) != archive_name(b)

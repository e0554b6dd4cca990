"""DefinitionStore: request names checked, definitions kept byte for byte and atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from boxzipfs.drive.definitions import DefinitionStore, check_name
from boxzipfs.errors import RequestInvalid
from boxzipfs.models import parse_request_spec

RAW = b'{"items": [{"type": "folder", "id": "12"}],   "allow_skips": true}\n'


REFUSED = ["by-id", "browse", "archives", ".", "..", ".hidden", "a/b", "", "x" * 201, "a\0b"]
CONTROLS = ["line\nforged", "tab\there", "\x1b[31mred", "del\x7f", "csi\x9b2J", "sep\u2028x"]


@pytest.mark.parametrize("name", REFUSED + CONTROLS)
def test_names_the_mount_uses_the_kernel_cannot_hold_or_a_terminal_obeys_are_refused(name: str) -> None:
    with pytest.raises(RequestInvalid):
        check_name(name)


@pytest.mark.parametrize("name", ["Q1 report", "ünïcödé", "x" * 200, "a.b", "日本語"])
def test_ordinary_names_are_taken(name: str) -> None:
    assert check_name(name) == name


def test_a_definition_reads_back_as_written_and_parses_once_per_version(tmp_path: Path) -> None:
    store = DefinitionStore(tmp_path)
    store.create("r")
    assert store.names() == ["r"] and store.get("r") is None and store.raw("r") == (b"", None)
    spec = parse_request_spec(RAW)
    store.put("r", spec, RAW)
    data, mtime_ns = store.raw("r")
    assert data == RAW and mtime_ns == (tmp_path / "requests" / "r" / "request.json").stat().st_mtime_ns
    first = store.get("r")
    assert first == spec and first is not None and first.allow_skips
    assert store.get("r") is first  # the same version is not parsed again
    store.put("r", parse_request_spec(b'{"items": [{"type": "file", "id": "7"}]}'))
    second = store.get("r")
    assert second is not None and second.request.items[0].id == "7"
    assert json.loads(store.raw("r")[0])["items"] == [{"type": "file", "id": "7"}]


def test_put_leaves_no_temporary_file_and_clear_keeps_the_directory(tmp_path: Path) -> None:
    store = DefinitionStore(tmp_path)
    store.put("r", parse_request_spec(RAW), RAW)  # put creates the directory
    assert os.listdir(tmp_path / "requests" / "r") == ["request.json"]
    assert store.clear("r") and not store.clear("r")
    assert store.exists("r") and store.get("r") is None
    with pytest.raises(FileExistsError):
        store.create("r")
    store.remove("r")
    assert not store.exists("r") and store.names() == []


def test_a_store_opened_again_sees_what_was_stored(tmp_path: Path) -> None:
    DefinitionStore(tmp_path).put("r", parse_request_spec(RAW), RAW)
    again = DefinitionStore(tmp_path)
    assert again.names() == ["r"] and again.raw("r")[0] == RAW

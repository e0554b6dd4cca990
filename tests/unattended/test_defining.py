"""#18.5: every common way of writing a file defines a request: cp into a new request
directory, install, shutil.copy, rsync, sed -i and an editor's save, the last ones through
a temporary file renamed over request.json (one atomic replacement of the definition)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import expected_members, zip_contents
from tests.mount.support import define, folder_items, status

pytestmark = pytest.mark.mount

Mount = Callable[..., Path]


def run(*cmd: str | Path, cwd: Path | None = None) -> None:
    done = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )
    assert done.returncode == 0, f"{cmd}: {done.stderr}"


def vim_save(source: Path, target: Path) -> None:
    """vim's own save (its defaults: writebackup, backupcopy=auto), the buffer replaced."""
    run("vim", "-Nu", "NONE", "-n", "-e", "-s", "-c", "%d", "-c", f"r {source}", "-c", "wq", target)


def editor_save(source: Path, target: Path) -> None:
    """The save of many editors and tools: write a temporary file beside it, rename over it."""
    scratch = target.with_name(f".{target.name}.swp")
    scratch.write_bytes(source.read_bytes())
    os.rename(scratch, target)


WRITERS: dict[str, Callable[[Path, Path], None]] = {
    "cp": lambda source, target: run("cp", source, target),
    "install": lambda source, target: run("install", "-m", "0644", source, target),
    "shutil.copy": shutil.copy,
    "rsync": lambda source, target: run("rsync", source, target),
    "editor": editor_save,
    "vim": vim_save,
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_new_request_defined_by(
    writer: str, tree: tuple[Path, dict[str, bytes]], mount: Mount, tmp_path: Path
) -> None:
    root, _ = tree
    mp = mount("--local", str(root))
    source = tmp_path / "req.json"
    source.write_text(json.dumps({"items": folder_items(root, "docs")}))
    (mp / "x").mkdir()
    WRITERS[writer](source, mp / "x" / "request.json")
    assert json.loads((mp / "x" / "request.json").read_text()) == json.loads(source.read_text())
    assert sorted(os.listdir(mp / "x")) == ["request.json", "request.zip", "status.json"]  # no leftovers
    assert zip_contents((mp / "x" / "request.zip").read_bytes()) == expected_members(root, "docs")
    # the same tool replaces an existing definition
    source.write_text(json.dumps({"items": folder_items(root, "photos")}))
    os.utime(source, (1, 1))  # rsync skips a file of the same size and second as its target
    WRITERS[writer](source, mp / "x" / "request.json")
    assert zip_contents((mp / "x" / "request.zip").read_bytes()) == expected_members(root, "photos")


def test_sed_i_edits_a_definition_in_one_replacement(
    tree: tuple[Path, dict[str, bytes]], mount: Mount
) -> None:
    root, _ = tree
    mp = mount("--local", str(root))
    define(mp, "x", {"items": folder_items(root, "docs")})
    docs, photos = folder_items(root, "docs")[0]["id"], folder_items(root, "photos")[0]["id"]
    run("sed", "-i", f"s/{docs}/{photos}/", mp / "x" / "request.json")
    assert zip_contents((mp / "x" / "request.zip").read_bytes()) == expected_members(root, "photos")
    assert sorted(os.listdir(mp / "x")) == ["request.json", "request.zip", "status.json"]


@pytest.mark.daemon_log(r"request\.json refused: ")
def test_a_bad_definition_renamed_over_request_json_is_refused_and_the_old_one_stays(
    tree: tuple[Path, dict[str, bytes]], mount: Mount
) -> None:
    root, _ = tree
    mp = mount("--local", str(root))
    good = (define(mp, "x", {"items": folder_items(root, "docs")}) / "request.json").read_text()
    scratch = mp / "x" / ".tmp-edit"
    scratch.write_text('{"items": "not a list"}')
    with pytest.raises(OSError) as refused:
        os.rename(scratch, mp / "x" / "request.json")
    assert refused.value.errno == errno.EINVAL
    assert (mp / "x" / "request.json").read_text() == good
    assert "items" in str(status(mp / "x")["definition_error"])
    os.unlink(scratch)  # the scratch file is the user's to remove
    assert sorted(os.listdir(mp / "x")) == ["request.json", "request.zip", "status.json"]
    with pytest.raises(OSError) as not_json:
        os.rename(mp / "x" / "request.json", mp / "x" / "other")
    assert not_json.value.errno == errno.EPERM  # request.json itself is never renamed away


def test_rm_of_request_json_leaves_the_request_undefined_until_a_new_one_is_written(
    tree: tuple[Path, dict[str, bytes]], mount: Mount
) -> None:
    root, _ = tree
    mp = mount("--local", str(root))
    define(mp, "x", {"items": folder_items(root, "docs")})
    (mp / "x" / "request.json").unlink()
    assert os.listdir(mp / "x") == ["status.json"]
    assert status(mp / "x")["defined"] is False
    with pytest.raises(FileNotFoundError):
        (mp / "x" / "request.zip").read_bytes()
    (mp / "x" / "request.json").write_text(json.dumps({"items": folder_items(root, "photos")}))
    assert zip_contents((mp / "x" / "request.zip").read_bytes()) == expected_members(root, "photos")

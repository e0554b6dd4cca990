"""What the mount refuses, with the errno that names the real reason, and what it keeps."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.mount.support import define, folder_items, status

pytestmark = pytest.mark.mount
Mount = Callable[..., Path]


def errno_of(action: Callable[[], object]) -> int:
    with pytest.raises(OSError) as refused:
        action()
    return refused.value.errno or 0


@pytest.mark.daemon_log(r"request\.json refused: ")
def test_unsupported_operations_name_the_real_reason(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, tmp_path: Path
) -> None:
    root, _ = tree
    mp = mount("--local", str(root))
    request = define(mp, "docs", {"items": folder_items(root, "docs")})
    before = (request / "request.json").read_bytes()

    assert errno_of((request / "sub").mkdir) == errno.EPERM
    assert errno_of((mp / "forged\nline").mkdir) == errno.EINVAL  # a name shown on terminals and in logs
    assert errno_of(lambda: (mp / "file").write_text("hi\n")) == errno.EPERM
    assert errno_of(lambda: (mp / "docs").write_text("hi\n")) == errno.EISDIR
    assert errno_of(lambda: (request / "request.zip").write_bytes(b"x")) == errno.EACCES
    assert errno_of(lambda: (request / "status.json").write_bytes(b"x")) == errno.EACCES
    assert errno_of(lambda: (request / "request.json").rename(request / "other.json")) == errno.EPERM
    assert errno_of(lambda: os.symlink("request.json", request / "link")) == errno.EPERM
    assert errno_of(lambda: (request / "request.zip").chmod(0o600)) == errno.EPERM
    assert errno_of((request / "status.json").unlink) == errno.EACCES
    (request / "request.json").chmod(0o600)  # accepted (shutil.copy, install do it), changes nothing
    assert (request / "request.json").stat().st_mode & 0o777 == 0o644
    scratch = [request / f".tmp{index}" for index in range(9)]
    for path in scratch[:8]:
        path.touch()  # the temporary files of a write-then-rename
    assert errno_of(scratch[8].touch) == errno.ENOSPC
    for path in scratch[:8]:
        path.unlink()
    by_id = mp / "by-id" / f"folder-{folder_items(root, 'docs')[0]['id']}"
    assert errno_of(lambda: (by_id / "request.json").write_text("{}")) == errno.EROFS
    assert errno_of((by_id / "new").touch) == errno.EROFS
    assert errno_of((mp / "by-id" / "mine").mkdir) == errno.EROFS

    sed = subprocess.run(
        ["sed", "-i", "s/items/itemz/", str(request / "request.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert sed.returncode != 0  # the edited definition is refused at the rename
    assert "Invalid argument" in sed.stderr
    assert (request / "request.json").read_bytes() == before
    leftovers = sorted(set(os.listdir(request)) - {"request.json", "request.zip", "status.json"})
    for name in leftovers:  # sed leaves its temporary file when the rename fails, as on any disk
        (request / name).unlink()
    assert sorted(os.listdir(request)) == ["request.json", "request.zip", "status.json"]
    log = (tmp_path / "mount.log").read_text()
    assert "only request.json can be written" in log
    assert "by-id/ is read-only" in log


def test_request_json_reads_back_as_written(tree: tuple[Path, dict[str, bytes]], mount: Mount) -> None:
    root, _ = tree
    mp = mount("--local", str(root))
    (mp / "unicode").mkdir()
    ident = folder_items(root, "docs")[0]["id"]
    name = "Rapports 2026 \u00e9t\u00e9 \u2713"
    written = (
        f'{{"items": [{{"type": "folder", "id": "{ident}"}}],\n "download_file_name": "{name}"}}\n'.encode()
    )
    (mp / "unicode" / "request.json").write_bytes(written)
    assert (mp / "unicode" / "request.json").read_bytes() == written
    assert json.loads(written)["download_file_name"] in (mp / "unicode" / "request.json").read_text()
    assert status(mp / "unicode")["definition_error"] is None


@pytest.mark.daemon_log(r"request\.json refused: ")
def test_a_truncated_json_prefix_is_refused_at_close_and_the_old_definition_stays(
    tree: tuple[Path, dict[str, bytes]], mount: Mount
) -> None:
    """What the README promises about echo: the shell ignores the close's error, the mount does not."""
    root, _ = tree
    mp = mount("--local", str(root))
    request = define(mp, "docs", {"items": folder_items(root, "docs")})
    before = (request / "request.json").read_bytes()
    echo = subprocess.run(["bash", "-c", f"echo '{{\"items\": [' > {request / 'request.json'}"], check=False)
    assert echo.returncode == 0  # bash does not report errors at close
    assert (request / "request.json").read_bytes() == before
    assert "not valid JSON" in str(status(request)["definition_error"])
    wrong = subprocess.run(
        ["bash", "-c", f"echo '{{\"items\": 5}}' > {request / 'request.json'}"], check=False
    )
    assert wrong.returncode != 0  # complete but wrong JSON is refused at write, which bash does report

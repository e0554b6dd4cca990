"""A mount on a shared host, as another local user meets it (#29.1): with ``-o allow_other``
(the README's fstab line) the modes shown are the modes enforced, for every caller."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import expected_members, file_id, make_tree, zip_contents
from tests.mount.support import define
from tests.mounting import mounted

pytestmark = pytest.mark.mount
NOBODY = 65534


def as_nobody(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *map(str, argv)],
        capture_output=True, text=True, timeout=60, check=False, cwd="/",
    )  # fmt: skip


@pytest.fixture
def reachable() -> Iterator[Path]:
    """A directory other users can enter (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="boxzipfs-shared-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_with_allow_other_another_user_reads_what_the_modes_allow_and_changes_nothing(
    tmp_path: Path, reachable: Path
) -> None:
    root = tmp_path / "box"
    make_tree(root)
    mp = reachable / "mnt"
    args = ["--local", str(root), "--state-dir", str(tmp_path / "st"), "--cache-dir", str(tmp_path / "c")]
    with mounted(mp, [*args, "-o", "allow_other"], tmp_path / "log"):
        request = define(mp, "docs", {"items": [{"type": "folder", "id": file_id(root, "docs")}]})
        before = (request / "request.json").read_bytes()
        attempts = {
            "mkdir a request (a download on the owner's credentials)": as_nobody("mkdir", mp / "mine"),
            "overwrite the owner's request.json": as_nobody(
                "sh", "-c", f"echo '{{\"items\": []}}' > '{request}/request.json'"
            ),
            "remove the owner's request.json": as_nobody("rm", "-f", request / "request.json"),
            "remove the owner's request": as_nobody("rmdir", request),
            "write a scratch file beside it": as_nobody("touch", request / "scratch"),
        }
        for what, done in attempts.items():
            assert done.returncode != 0 and "Permission denied" in done.stderr, (what, done)
        assert (request / "request.json").read_bytes() == before
        assert sorted(p.name for p in mp.iterdir()) == ["archives", "browse", "by-id", "docs"]
        assert sorted(p.name for p in request.iterdir()) == ["request.json", "request.zip", "status.json"]
        # what the modes let others read, they read
        out = reachable / "copy.zip"
        reachable.chmod(0o777)
        copied = as_nobody("sh", "-c", f"cat '{request}/request.zip' > '{out}'")
        assert copied.returncode == 0, copied.stderr
        assert zip_contents(out.read_bytes()) == expected_members(root, "docs")
        listed = as_nobody("cat", mp / "browse" / "docs" / "readme.txt")
        assert (listed.returncode, listed.stdout) == (0, "hello box\n")

"""#18.8: a static token in BOX_TOKEN_FILE is read again when the file changes and after a
401, so a rotated developer token is picked up without a remount; a rejected token says so."""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import expected_members, write_users, zip_contents
from tests.mount.support import folder_items, status

pytestmark = pytest.mark.mount

Mount = Callable[..., Path]


def users_with(path: Path, token: str) -> None:
    write_users(path, [{"id": "1", "name": "default", "tokens": [token]}])


@pytest.mark.daemon_log(r"download \S+ failed: .*401")
def test_a_rotated_token_file_is_picked_up_and_a_rejected_one_is_named(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, start_server: Callable[..., object], tmp_path: Path
) -> None:
    root, _ = tree
    users = tmp_path / "users.json"
    users_with(users, "first-token-aaaa")
    server = start_server(root, "--users", str(users))
    token_file = tmp_path / "token"
    token_file.write_text("first-token-aaaa\n")
    mp = mount("--api-url", server.url, env={"BOX_TOKEN_FILE": str(token_file)})  # type: ignore[attr-defined]
    body = json.dumps({"items": folder_items(root, "docs")})
    for name in ("a", "b", "c"):
        (mp / name).mkdir()
        (mp / name / "request.json").write_text(body)
    assert zip_contents((mp / "a" / "request.zip").read_bytes()) == expected_members(root, "docs")

    users_with(users, "second-token-bbbb")  # the first token expires on Box
    with pytest.raises(OSError) as refused:
        (mp / "b" / "request.zip").read_bytes()
    assert refused.value.errno == errno.EACCES
    error = status(mp / "b")["error"]
    assert isinstance(error, dict)
    assert str(token_file) in error["message"] and "rejected" in error["message"]
    assert "first-token" not in json.dumps(status(mp / "b"))

    token_file.write_text("second-token-bbbb\n")  # the user puts the new one in the file
    assert zip_contents((mp / "c" / "request.zip").read_bytes()) == expected_members(root, "docs")
    assert "second-token" not in (tmp_path / "mount.log").read_text()

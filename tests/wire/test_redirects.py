"""#20 section 2: content GETs that answer a redirect (Box sends content from another host)
are followed, and the one-shot rule holds: the redirect spends nothing, the download URL is
never asked for again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import StartServer
from tests.helpers import bearer, create, expected_members, file_id, zip_contents


def stats(server: object) -> dict[str, int]:
    url, token = server.url, server.token  # type: ignore[attr-defined]
    return dict(httpx.get(f"{url}/_boxzipfs/stats", headers=bearer(token)).json())


def test_the_server_redirects_content_to_a_second_listener(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client
) -> None:
    root, _ = tree
    server = start_server(root, "--redirect-content")
    docs = {"items": [{"type": "folder", "id": file_id(root, "docs")}]}
    made = create(http, server.url, server.token, docs)
    url = made.json()["download_url"]
    hop = http.get(url)
    assert hop.status_code == 302
    location = hop.headers["location"]
    assert location.split("/2.0/")[0] != server.url and location.endswith(url.split(server.url)[1])
    assert stats(server)["downloads_started"] == 0  # the redirect spent nothing
    assert zip_contents(http.get(location).content) == expected_members(root, "docs")
    assert http.get(location).status_code == 404  # used once
    assert stats(server)["content_redirects"] == 1


@pytest.mark.mount
def test_a_mount_follows_content_redirects_byte_exact(
    tree: tuple[Path, dict[str, bytes]], mount: Callable[..., Path], start_server: StartServer
) -> None:
    root, files = tree
    server = start_server(root, "--redirect-content")
    mp = mount("--api-url", server.url, env={"BOX_ACCESS_TOKEN": server.token})
    (mp / "r").mkdir()
    docs = {"items": [{"type": "folder", "id": file_id(root, "docs")}]}
    (mp / "r" / "request.json").write_text(json.dumps(docs))
    assert zip_contents((mp / "r" / "request.zip").read_bytes()) == expected_members(root, "docs")
    assert (mp / "browse" / "docs" / "nested" / "data.bin").read_bytes() == files["docs/nested/data.bin"]
    counts = stats(server)
    assert counts["content_redirects"] == counts["downloads_started"] == 2  # each GET once, via its hop

"""#20 section 4: the embedded server answers as Box's spec and documentation say, where a
careful tester found it did not. Each test reproduces one finding."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from pathlib import Path

import httpx
import pytest

from boxzipfs.server.child import LocalServer
from tests.conftest import StartServer
from tests.helpers import OAUTH_CLIENT, bearer, create, file_id, write_users, zip_contents


def items_of(root: Path, *rels: str, kind: str = "folder") -> list[dict[str, str]]:
    return [{"type": kind, "id": file_id(root, rel)} for rel in rels]


def stats(server: LocalServer) -> dict[str, int]:
    return dict(httpx.get(f"{server.url}/_boxzipfs/stats", headers=bearer(server.token)).json())


@pytest.mark.parametrize("name", ["報告書", "rapport 🚀", 'say "hi"\\ok', "Ünïcode"])
def test_any_download_file_name_is_served_with_an_rfc6266_header_and_frees_its_slot(
    name: str, tree: tuple[Path, dict[str, bytes]], server: LocalServer, http: httpx.Client
) -> None:
    root, _ = tree
    for _ in range(6):  # five leaked slots would make the sixth a 429
        body = {"items": items_of(root, "docs"), "download_file_name": name}
        made = create(http, server.url, server.token, body)
        assert made.status_code == 202
        curl = subprocess.run(
            ["curl", "-sS", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}", made.json()["download_url"]],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert curl.stdout.endswith("200"), curl.stdout + curl.stderr
        headers = curl.stdout.lower()
        assert "content-type: application/octet-stream" in headers
        lines = curl.stdout.splitlines()
        disposition = next(line for line in lines if line.lower().startswith("content-disp"))
        assert "filename*=UTF-8''" in disposition
        assert disposition.encode("ascii")  # the header itself is plain ASCII
    assert stats(server)["active_downloads"] == 0
    answer = http.get(create(http, server.url, server.token, {
        "items": items_of(root, "docs"), "download_file_name": name}).json()["download_url"])  # fmt: skip
    from boxzipfs.client.answers import disposition_name

    assert disposition_name(answer.headers["content-disposition"]) == f"{name}.zip"


def test_usemarker_true_as_the_sdks_send_it_pages_by_marker(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, http: httpx.Client
) -> None:
    for value in ("True", "TRUE", "true"):
        page = http.get(
            f"{server.url}/2.0/folders/0/items",
            params={"usemarker": value, "limit": 1},
            headers=bearer(server.token),
        )
        assert page.status_code == 200, page.text
        assert page.json()["next_marker"] is not None


def test_a_non_ascii_client_secret_is_invalid_client(start_server: StartServer, tmp_path: Path) -> None:
    tree_root = tmp_path / "box"
    tree_root.mkdir()
    users = write_users(tmp_path / "users.json", clients=True)
    server = start_server(tree_root, "--users", str(users))
    answer = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": OAUTH_CLIENT["client_id"],
              "client_secret": "sécret-ünïcode", "box_subject_type": "enterprise", "box_subject_id": "500"},
    )  # fmt: skip
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_client"


def test_a_limit_above_the_maximum_is_reduced_to_it(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, http: httpx.Client
) -> None:
    page = http.get(f"{server.url}/2.0/folders/0/items", params={"limit": 5000}, headers=bearer(server.token))
    assert page.status_code == 200, page.text
    assert page.json()["limit"] == 1000


def test_more_file_items_than_an_archive_holds_is_the_file_count_limit(
    server: LocalServer, http: httpx.Client
) -> None:
    body = {"items": [{"type": "file", "id": str(10 + n)} for n in range(10_001)]}
    answer = create(http, server.url, server.token, body)
    assert answer.status_code == 400
    assert answer.json()["code"] == "zip_download_file_count_exceeded_limit"


def test_a_folders_size_is_the_bytes_of_its_files(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, http: httpx.Client
) -> None:
    _, files = tree
    page = http.get(
        f"{server.url}/2.0/folders/0/items", params={"fields": "name,size"}, headers=bearer(server.token)
    ).json()
    docs = next(entry for entry in page["entries"] if entry["name"] == "docs")
    assert docs["size"] == sum(len(data) for rel, data in files.items() if rel.startswith("docs/"))


def test_head_of_the_download_url_is_refused_and_spends_nothing(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, http: httpx.Client
) -> None:
    root, _ = tree
    url = create(http, server.url, server.token, {"items": items_of(root, "docs")}).json()["download_url"]
    head = http.head(url)
    assert head.status_code == 405 and head.headers["allow"] == "GET"
    assert http.get(url).status_code == 200  # the one-shot URL is still unused


def test_the_same_item_twice_is_one_entry(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, http: httpx.Client
) -> None:
    root, _ = tree
    twice = items_of(root, "top.txt", "top.txt", kind="file")
    made = create(http, server.url, server.token, {"items": twice})
    assert zip_contents(http.get(made.json()["download_url"]).content) == {"top.txt": b"top level file\n"}


def test_after_a_cut_the_status_counts_files_sent_not_files_read(
    start_server: StartServer, tmp_path: Path, http: httpx.Client
) -> None:
    root = tmp_path / "box"
    (root / "many").mkdir(parents=True)
    for index in range(40):
        (root / "many" / f"f{index:02d}.bin").write_bytes(bytes([index]) * 50_000)
    server = start_server(root, "--cut-after", "300000", "--chunk-size", "64K")
    made = create(http, server.url, server.token, {"items": items_of(root, "many")}).json()
    with pytest.raises(httpx.HTTPError), http.stream("GET", made["download_url"]) as body:
        for _ in body.iter_raw():
            pass
    status = http.get(made["status_url"], headers=bearer(server.token)).json()
    assert status["state"] == "failed"
    assert status["downloaded_file_count"] < status["total_file_count"] == 40
    assert status["downloaded_file_count"] <= 300_000 // 50_000  # at most the files that fit in what was sent


def test_listings_carry_boxs_default_fields_and_the_sha1(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, http: httpx.Client
) -> None:
    root, files = tree
    page = http.get(f"{server.url}/2.0/folders/{file_id(root, 'photos')}/items", headers=bearer(server.token))
    entries = {entry["name"]: entry for entry in page.json()["entries"]}
    photo = entries["a.jpg"]
    assert set(photo) == {"type", "id", "etag", "sequence_id", "name", "sha1", "file_version"}
    assert photo["sha1"] == hashlib.sha1(files["photos/a.jpg"]).hexdigest()
    assert photo["file_version"]["sha1"] == photo["sha1"]
    asked = http.get(
        f"{server.url}/2.0/folders/{file_id(root, 'photos')}/items",
        params={"fields": "name,size,sha1"}, headers=bearer(server.token),
    ).json()["entries"]  # fmt: skip
    assert {e["name"]: (e["size"], e["sha1"]) for e in asked}["a.jpg"] == (70_000, photo["sha1"])


def test_a_folder_id_that_is_no_number_is_405_and_a_huge_offset_400(
    server: LocalServer, http: httpx.Client
) -> None:
    assert http.get(f"{server.url}/2.0/folders/abc/items", headers=bearer(server.token)).status_code == 405
    huge = http.get(
        f"{server.url}/2.0/folders/0/items", params={"offset": 1 << 64}, headers=bearer(server.token)
    )
    assert huge.status_code == 400


def test_an_unexpected_error_is_a_500_that_keeps_the_connection() -> None:
    """Re-raised, uvicorn would close the connection after the 500 (a pooled client's next
    request met a reset); the middleware answers it and swallows the error instead."""
    from boxzipfs.server.app import ErrorsKeepTheConnection

    async def broken(scope: object, receive: object, send: object) -> None:
        raise RuntimeError("a bug")

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=ErrorsKeepTheConnection(broken))  # raises what the app raises
        async with httpx.AsyncClient(transport=transport, base_url="http://box") as client:
            return await client.get("/2.0/folders/0/items")

    answer = asyncio.run(ask())
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal_server_error"

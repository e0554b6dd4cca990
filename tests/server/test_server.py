"""The local server through HTTP: every behaviour of the Box API subset."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from boxzipfs.server.child import LocalServer
from boxzipfs.server.run import bind
from tests.conftest import StartServer
from tests.helpers import bearer, create, expected_members, file_id, write_users, zip_contents

CLIENT_ERROR_KEYS = {"type", "status", "code", "message", "request_id", "help_url", "context_info"}


def assert_client_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert set(body) == CLIENT_ERROR_KEYS
    assert body["type"] == "error"
    assert body["status"] == status
    assert body["code"] == code
    assert body["request_id"]


def folder_body(root: Path, *rels: str) -> dict[str, object]:
    return {"items": [{"type": "folder", "id": file_id(root, r)} for r in rels]}


def test_listing_ids_are_stable_across_restarts_and_paginate(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client
) -> None:
    root, _ = tree
    for i in range(7):
        (root / "photos" / f"p{i}.png").write_bytes(b"x" * i)
    first = start_server(root)
    listing = http.get(f"{first.url}/2.0/folders/0/items", headers=bearer(first.token)).json()
    assert [(e["type"], e["name"]) for e in listing["entries"]] == [
        ("folder", "docs"),
        ("folder", "photos"),
        ("file", "top.txt"),
    ]
    assert listing["total_count"] == 3
    docs_id = listing["entries"][0]["id"]
    first.stop()
    second = start_server(root)
    again = http.get(f"{second.url}/2.0/folders/0/items", headers=bearer(second.token)).json()
    assert again["entries"] == listing["entries"]

    photos = file_id(root, "photos")
    names, marker = [], None
    while True:
        params = {"usemarker": "true", "limit": 4, **({"marker": marker} if marker else {})}
        page = http.get(
            f"{second.url}/2.0/folders/{photos}/items", params=params, headers=bearer(second.token)
        ).json()
        names += [e["name"] for e in page["entries"]]
        marker = page["next_marker"]
        if not marker:
            break
    assert names == sorted(["a.jpg", "b.jpg", *(f"p{i}.png" for i in range(7))])
    offset_page = http.get(
        f"{second.url}/2.0/folders/{photos}/items",
        params={"offset": 8, "limit": 4, "fields": "name,size"},
        headers=bearer(second.token),
    ).json()
    assert [e["name"] for e in offset_page["entries"]] == ["p6.png"]
    assert offset_page["total_count"] == 9
    sizes = {e["name"]: e["size"] for e in offset_page["entries"]}
    assert sizes == {"p6.png": 6}
    missing = http.get(f"{second.url}/2.0/folders/999999999/items", headers=bearer(second.token))
    assert_client_error(missing, 404, "not_found")
    assert docs_id == file_id(root, "docs")


def test_create_download_status_roundtrip(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, http: httpx.Client
) -> None:
    root, files = tree
    body = {
        "items": [
            {"type": "folder", "id": file_id(root, "docs")},
            {"type": "file", "id": file_id(root, "top.txt")},
        ],
        "download_file_name": "Quarterly Report",
    }
    created = create(http, server.url, server.token, body)
    assert created.status_code == 202
    assert "retry-after" not in created.headers
    info = created.json()
    assert set(info) == {"download_url", "status_url", "expires_at", "name_conflicts"}
    assert info["name_conflicts"] == []
    assert info["expires_at"].endswith("Z")
    before = http.get(info["status_url"], headers=bearer(server.token))
    assert_client_error(before, 404, "not_found")

    response = http.get(info["download_url"], headers={"Authorization": "Bearer ignored"})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        "attachment;filename=\"Quarterly Report.zip\";filename*=UTF-8''Quarterly%20Report.zip"
    )
    expected = expected_members(root, "docs") | {"top.txt": files["top.txt"]}
    assert zip_contents(response.content) == expected

    again = http.get(info["download_url"])
    assert_client_error(again, 404, "not_found")
    status = http.get(info["status_url"], headers=bearer(server.token)).json()
    assert status == {
        "total_file_count": 4,
        "downloaded_file_count": 4,
        "skipped_file_count": 0,
        "skipped_folder_count": 0,
        "state": "succeeded",
    }
    unauth = http.get(info["status_url"])
    assert_client_error(unauth, 401, "unauthorized")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "bad_request"),
        (b'{"download_file_name": "x"}', "bad_request"),
        (b'{"items": []}', "bad_request"),
        (b'{"items": [{"type": "web_link", "id": "1"}]}', "bad_request"),
        (b'{"items": [{"type": "folder", "id": "0"}]}', "bad_request"),
        (b'{"items": [{"type": "file"}]}', "bad_request"),
    ],
)
def test_create_rejects_bad_bodies(server: LocalServer, http: httpx.Client, raw: bytes, code: str) -> None:
    response = http.post(
        f"{server.url}/2.0/zip_downloads",
        content=raw,
        headers={**bearer(server.token), "Content-Type": "application/json"},
    )
    assert_client_error(response, 400, code)


def test_unknown_routes_and_methods_answer_client_errors(server: LocalServer, http: httpx.Client) -> None:
    assert_client_error(http.get(f"{server.url}/2.0/comments/1"), 404, "not_found")  # not served
    wrong_method = http.get(f"{server.url}/2.0/zip_downloads")
    assert_client_error(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "POST"
    allowed = http.delete(f"{server.url}/2.0/folders/0/items").headers["allow"]
    assert sorted(allowed.split(", ")) == ["GET", "HEAD"]


def test_create_auth_and_lookup_errors(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client, tmp_path: Path
) -> None:
    root, _ = tree
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [{"id": "7", "tokens": ["alice"], "deny": ["photos"]}]}))
    server = start_server(root, "--users", str(users))
    body = folder_body(root, "photos")
    assert_client_error(create(http, server.url, "wrong", body), 401, "unauthorized")
    assert_client_error(http.post(f"{server.url}/2.0/zip_downloads", json=body), 401, "unauthorized")
    assert_client_error(create(http, server.url, "alice", body), 403, "forbidden")
    assert create(http, server.url, server.token, body).status_code == 202
    missing = {"items": [{"type": "file", "id": "99999999999"}]}
    assert_client_error(create(http, server.url, server.token, missing), 404, "not_found")
    wrong_type = {"items": [{"type": "folder", "id": file_id(root, "top.txt")}]}
    assert_client_error(create(http, server.url, server.token, wrong_type), 404, "not_found")


def test_create_enforces_file_and_byte_limits(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client
) -> None:
    root, _ = tree
    server = start_server(root, "--max-files", "2", "--max-bytes", "50000")
    docs = folder_body(root, "docs")
    assert_client_error(
        create(http, server.url, server.token, docs), 400, "zip_download_file_count_exceeded_limit"
    )
    photos = folder_body(root, "photos")
    assert_client_error(
        create(http, server.url, server.token, photos),
        400,
        "zip_download_pre_compressed_bytes_exceeded_limit",
    )
    small = {"items": [{"type": "file", "id": file_id(root, "top.txt")}]}
    assert create(http, server.url, server.token, small).status_code == 202


def test_name_conflicts_rename_both_items(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, http: httpx.Client
) -> None:
    root, files = tree
    (root / "photos" / "readme.txt").write_bytes(b"other readme\n")
    body = {
        "items": [
            {"type": "file", "id": file_id(root, "docs/readme.txt")},
            {"type": "file", "id": file_id(root, "photos/readme.txt")},
        ]
    }
    info = create(http, server.url, server.token, body).json()
    (pair,) = info["name_conflicts"]
    assert [side["original_name"] for side in pair] == ["readme.txt", "readme.txt"]
    assert [side["id"] for side in pair] == [item["id"] for item in body["items"]]
    names = [side["download_name"] for side in pair]
    assert len(set(names)) == 2
    assert all(n.endswith(".txt") and n != "readme.txt" for n in names)
    members = zip_contents(http.get(info["download_url"]).content)
    assert members == {names[0]: files["docs/readme.txt"], names[1]: b"other readme\n"}


def test_download_url_expires_unless_started(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client
) -> None:
    root, _ = tree
    server = start_server(root, "--url-ttl", "0.5")
    info = create(http, server.url, server.token, folder_body(root, "docs")).json()
    time.sleep(0.8)
    assert_client_error(http.get(info["download_url"]), 404, "not_found")


def test_status_expires_after_status_ttl(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client
) -> None:
    root, _ = tree
    server = start_server(root, "--status-ttl", "1")
    info = create(http, server.url, server.token, folder_body(root, "docs")).json()
    http.get(info["download_url"]).raise_for_status()
    assert http.get(info["status_url"], headers=bearer(server.token)).status_code == 200
    time.sleep(1.3)
    assert_client_error(http.get(info["status_url"], headers=bearer(server.token)), 404, "not_found")


def test_concurrency_limits_per_user_and_enterprise(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client, tmp_path: Path
) -> None:
    root, _ = tree
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [{"id": "8", "tokens": ["bob"]}]}))
    server = start_server(
        root,
        "--user-concurrency", "1",
        "--enterprise-concurrency", "2",
        "--throttle", "50000",
        "--users", str(users),
    )  # fmt: skip
    body = folder_body(root, "docs")
    streams = []
    with httpx.Client(timeout=30) as other:
        first = create(http, server.url, server.token, body).json()
        streams.append(other.send(other.build_request("GET", first["download_url"]), stream=True))
        assert streams[0].status_code == 200
        second = create(http, server.url, server.token, body).json()
        assert_client_error(http.get(second["download_url"]), 429, "user_too_many_concurrent_downloads")
        third = create(http, server.url, "bob", body).json()
        with httpx.Client(timeout=30) as bob:
            bob_stream = bob.send(bob.build_request("GET", third["download_url"]), stream=True)
            assert bob_stream.status_code == 200
            fourth = create(http, server.url, "bob", body).json()
            assert_client_error(http.get(fourth["download_url"]), 429, "user_too_many_concurrent_downloads")
            users.write_text(
                json.dumps({"users": [{"id": "8", "tokens": ["bob"]}, {"id": "9", "tokens": ["eve"]}]})
            )
            fifth = create(http, server.url, "eve", body).json()
            assert_client_error(
                http.get(fifth["download_url"]), 429, "enterprise_too_many_concurrent_downloads"
            )
            bob_stream.close()
        streams[0].close()
    time.sleep(0.3)
    sixth = create(http, server.url, server.token, body).json()
    assert http.get(sixth["download_url"]).status_code == 200


def test_items_gone_or_forbidden_after_create_are_skipped_and_counted(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client, tmp_path: Path
) -> None:
    root, _ = tree
    users = write_users(tmp_path / "users.json", [{"id": "7", "tokens": ["alice"]}])
    server = start_server(root, "--users", str(users))
    info = create(http, server.url, "alice", folder_body(root, "docs")).json()
    (root / "docs" / "readme.txt").unlink()
    users.write_text(json.dumps({"users": [{"id": "7", "tokens": ["alice"], "deny": ["docs/nested"]}]}))
    members = zip_contents(http.get(info["download_url"]).content)
    assert members == {"docs/": b"", "docs/empty/": b""}
    status = http.get(info["status_url"], headers=bearer("alice")).json()
    assert status == {
        "total_file_count": 3,
        "downloaded_file_count": 0,
        "skipped_file_count": 3,
        "skipped_folder_count": 2,
        "state": "succeeded",
    }


def test_token_endpoint_rotates_refresh_tokens_and_expires_access(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client, tmp_path: Path
) -> None:
    root, _ = tree
    users = write_users(tmp_path / "users.json", [{"id": "7", "refresh_tokens": ["r0"]}], clients=True)
    server = start_server(root, "--users", str(users), "--token-ttl", "1")
    form = {"grant_type": "refresh_token", "refresh_token": "r0", "client_id": "cid", "client_secret": "cs"}
    answer = http.post(f"{server.url}/oauth2/token", data=form).json()
    assert answer["token_type"] == "bearer"
    assert answer["expires_in"] == 1
    assert answer["refresh_token"] != "r0"
    reused = http.post(f"{server.url}/oauth2/token", data=form)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    listing = http.get(f"{server.url}/2.0/folders/0/items", headers=bearer(answer["access_token"]))
    assert listing.status_code == 200
    time.sleep(1.2)
    expired = http.get(f"{server.url}/2.0/folders/0/items", headers=bearer(answer["access_token"]))
    assert_client_error(expired, 401, "unauthorized")

    cc = {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "cs",
        "box_subject_type": "enterprise",
        "box_subject_id": "500",
    }
    assert "access_token" in http.post(f"{server.url}/oauth2/token", data=cc).json()
    bad = http.post(f"{server.url}/oauth2/token", data={**cc, "client_secret": "nope"})
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "invalid_client",
        "error_description": "The client credentials are not valid",
    }


def test_fault_switches_cut_and_create_errors(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client
) -> None:
    root, _ = tree
    server = start_server(root, "--cut-after", "1000", "--fail-create", "429:3x2", "--fail-create", "503")
    body = folder_body(root, "docs")
    for status in (429, 429, 503):
        response = create(http, server.url, server.token, body)
        assert response.status_code == status
        assert response.headers.get("retry-after") == ("3" if status == 429 else None)
    info = create(http, server.url, server.token, body).json()
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), http.stream("GET", info["download_url"]) as response:
        for chunk in response.iter_raw():
            received += chunk
    assert len(received) == 1000
    time.sleep(0.2)
    assert http.get(info["status_url"], headers=bearer(server.token)).json()["state"] == "failed"
    faults = http.put(
        f"{server.url}/_boxzipfs/faults", json={"cut_after": None}, headers=bearer(server.token)
    ).json()
    assert faults["cut_after"] is None
    info = create(http, server.url, server.token, body).json()
    assert zip_contents(http.get(info["download_url"]).content) == expected_members(root, "docs")


def _rss_peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_streams_large_files_without_holding_them_in_memory(
    tmp_path: Path, start_server: StartServer, http: httpx.Client
) -> None:
    root = tmp_path / "big"
    root.mkdir()
    size = 400 << 20
    with (root / "large.bin").open("wb") as out:
        block = bytes(range(256)) * 4096
        for _ in range(size // len(block)):
            out.write(block)
    server = start_server(root)
    before = _rss_peak_kib(server.process.pid)
    info = create(
        http, server.url, server.token, {"items": [{"type": "file", "id": file_id(root, "large.bin")}]}
    ).json()
    archive = tmp_path / "out.zip"
    with http.stream("GET", info["download_url"]) as response, archive.open("wb") as out:
        for chunk in response.iter_raw():
            out.write(chunk)
    grew_mib = (_rss_peak_kib(server.process.pid) - before) / 1024
    assert grew_mib < 64, f"server RSS grew {grew_mib:.0f} MiB while streaming a 400 MiB file"

    with zipfile.ZipFile(archive) as z:
        (info_,) = z.infolist()
        assert info_.file_size == size
        assert info_.compress_type == zipfile.ZIP_STORED
        with z.open(info_) as member, (root / "large.bin").open("rb") as src:
            while chunk := member.read(1 << 20):
                assert chunk == src.read(len(chunk))
    shutil.rmtree(root)


def test_zip64_archive_beyond_4_gib(tmp_path: Path, start_server: StartServer, http: httpx.Client) -> None:
    """A 4.2 GiB sparse file and a small one after it: sizes and offsets need ZIP64."""
    root = tmp_path / "z64"
    (root / "big").mkdir(parents=True)
    with (root / "big" / "a-huge.bin").open("wb") as huge:
        huge.truncate((4 << 30) + (200 << 20))
        huge.seek(123_456_789)
        huge.write(b"a marker in the middle")
    (root / "big" / "z-after.txt").write_bytes(b"beyond four gigabytes")
    server = start_server(root)
    info = create(http, server.url, server.token, folder_body(root, "big")).json()
    archive = tmp_path / "big.zip"
    zero = bytes(1 << 20)
    with http.stream("GET", info["download_url"]) as response, archive.open("wb") as out:
        buffered = bytearray()
        for chunk in response.iter_raw():
            buffered += chunk
            while len(buffered) >= len(zero):
                piece, buffered = bytes(buffered[: len(zero)]), buffered[len(zero) :]
                if piece == zero:
                    out.seek(len(zero), 1)  # keep the copy sparse
                else:
                    out.write(piece)
        out.write(buffered)
        out.truncate()
    with zipfile.ZipFile(archive) as z:
        infos = {i.filename: i for i in z.infolist()}
        assert infos["big/a-huge.bin"].file_size == (4 << 30) + (200 << 20)
        assert infos["big/z-after.txt"].header_offset > 0xFFFFFFFF
        assert z.read("big/z-after.txt") == b"beyond four gigabytes"
        with z.open("big/a-huge.bin") as member:
            member.seek(123_456_789)
            assert member.read(22) == b"a marker in the middle"
    assert http.get(info["status_url"], headers=bearer(server.token)).json()["state"] == "succeeded"


def test_symlinks_inside_the_served_folder_are_followed_never_outside(
    tmp_path: Path, start_server: StartServer, http: httpx.Client
) -> None:
    root, outside = tmp_path / "box", tmp_path / "outside"
    (root / "real").mkdir(parents=True)
    (root / "real" / "a.txt").write_bytes(b"inside\n")
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"never served\n")
    (root / "linked-dir").symlink_to(root / "real")
    (root / "linked-file.txt").symlink_to(root / "real" / "a.txt")
    (root / "escape-dir").symlink_to(outside)
    (root / "escape-file.txt").symlink_to(outside / "secret.txt")
    (root / "dangling").symlink_to(root / "nowhere")
    (root / "real" / "loop").symlink_to(root)  # the root itself: a loop, never followed
    (root / "real" / "up").symlink_to(root / "real")  # an ancestor: listed, not entered again
    server = start_server(root)
    listing = http.get(f"{server.url}/2.0/folders/0/items", headers=bearer(server.token)).json()
    names = sorted(entry["name"] for entry in listing["entries"])
    assert names == ["linked-dir", "linked-file.txt", "real"]
    body = {"items": [{"type": "folder", "id": file_id(root, "linked-dir")}]}
    download = create(http, server.url, server.token, body).json()
    members = zip_contents(http.get(download["download_url"]).content)
    assert members == {"real/": b"", "real/a.txt": b"inside\n", "real/up/": b""}


def test_folder_items_give_modified_at_and_only_the_fields_asked_for(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client
) -> None:
    root, files = tree
    os.utime(root / "top.txt", (1_700_000_000, 1_700_000_000))
    server = start_server(root)
    url = f"{server.url}/2.0/folders/0/items"
    full = http.get(url, headers=bearer(server.token)).json()["entries"]
    top = next(e for e in full if e["name"] == "top.txt")
    sha1 = hashlib.sha1(files["top.txt"]).hexdigest()
    version = {"type": "file_version", "id": "1700000000", "sha1": sha1}
    assert top == {  # Box's mini representation when no fields are asked for
        "type": "file", "id": file_id(root, "top.txt"), "etag": "1700000000", "sequence_id": "1700000000",
        "name": "top.txt", "sha1": sha1, "file_version": version,
    }  # fmt: skip
    asked = {"fields": "name,size,modified_at"}
    listed = http.get(url, params=asked, headers=bearer(server.token)).json()["entries"]
    assert next(e for e in listed if e["name"] == "top.txt") == {
        "type": "file", "id": file_id(root, "top.txt"), "etag": "1700000000", "name": "top.txt",
        "size": len(files["top.txt"]), "modified_at": "2023-11-14T22:13:20+00:00",
    }  # fmt: skip
    only = http.get(url, params={"fields": "modified_at"}, headers=bearer(server.token)).json()["entries"]
    base_and_asked = {"type": "file", "id": file_id(root, "top.txt"), "etag": "1700000000",
                      "modified_at": "2023-11-14T22:13:20+00:00"}  # fmt: skip
    assert base_and_asked in only


def test_archive_format_switches_at_run_time(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client
) -> None:
    root, _ = tree
    server = start_server(root)
    switch = f"{server.url}/_boxzipfs/archive-format"

    def methods() -> set[int]:
        created = create(http, server.url, server.token, folder_body(root, "docs")).json()
        data = http.get(created["download_url"]).content
        assert zip_contents(data) == expected_members(root, "docs")
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {i.compress_type for i in archive.infolist() if not i.is_dir()}

    assert http.get(switch, headers=bearer(server.token)).json() == {"format": "stored"}
    assert methods() == {zipfile.ZIP_STORED}
    assert http.put(switch, json={"format": "deflate"}, headers=bearer(server.token)).status_code == 200
    assert methods() == {zipfile.ZIP_DEFLATED}
    bad = http.put(switch, json={"format": "zstd"}, headers=bearer(server.token))
    assert_client_error(bad, 400, "bad_request")
    assert http.put(switch, json={"format": "stored"}).status_code == 401


@pytest.mark.parametrize("archive_format", ["stored", "deflate"])
def test_identical_content_gives_identical_archives_conflict_names_included(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client, archive_format: str
) -> None:
    """What resuming a broken stream relies on: the same request over the same content
    streams the same bytes, in both formats, conflict renames included."""
    root, _ = tree
    (root / "photos" / "readme.txt").write_bytes(b"other readme\n")
    server = start_server(root, "--archive-format", archive_format)
    body = {
        "items": [
            {"type": "file", "id": file_id(root, "docs/readme.txt")},
            {"type": "file", "id": file_id(root, "photos/readme.txt")},
            {"type": "folder", "id": file_id(root, "docs")},
        ]
    }
    first, second = (
        http.get(create(http, server.url, server.token, body).json()["download_url"]).content
        for _ in range(2)
    )
    assert first == second and len(first) > 300_000
    (root / "docs" / "readme.txt").write_bytes(b"hello box\n".upper())  # same size, new bytes
    changed = http.get(create(http, server.url, server.token, body).json()["download_url"]).content
    assert changed != first and len(changed) == len(first)


def test_accepted_connections_send_without_nagle() -> None:
    """A response's body written after its headers must not wait out the client's delayed
    ACK: that cost 40 ms per request, and cp -r of browse/ ran at 11 files/s."""
    listener = bind("127.0.0.1", 0)
    client = socket.create_connection(listener.getsockname()[:2])
    accepted, _ = listener.accept()
    try:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        for sock in (accepted, client, listener):
            sock.close()

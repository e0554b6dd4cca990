"""BoxClient against the real server, plus MockTransport for odd answers."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import httpx
import pytest

from boxzipfs.client import (
    BoxClient,
    ClientCredentialsAuth,
    RefreshTokenAuth,
    RetryPolicy,
    StaticTokenAuth,
)
from boxzipfs.errors import (
    AuthError,
    DownloadUrlUsed,
    LimitExceeded,
    NetworkError,
    NotFound,
    ServerError,
    StreamBroken,
    TooManyRequests,
)
from boxzipfs.models import ZipDownload, ZipItem, ZipRequest
from boxzipfs.server.child import LocalServer
from tests.conftest import StartServer
from tests.helpers import expected_members, file_id, write_users, zip_contents


def client_for(server: LocalServer, http: httpx.Client, **kwargs: object) -> BoxClient:
    return BoxClient(http, StaticTokenAuth(server.token), server.url, **kwargs)  # type: ignore[arg-type]


def folder_request(root: Path, rel: str) -> ZipRequest:
    return ZipRequest((ZipItem("folder", file_id(root, rel)),), "archive")


def test_create_stream_and_status(
    tree: tuple[Path, dict[str, bytes]], server: LocalServer, http: httpx.Client
) -> None:
    root, _ = tree
    client = client_for(server, http)
    download = client.create_zip_download(folder_request(root, "docs"))
    with pytest.raises(NotFound):
        client.get_status(download)
    with client.open_content(download) as stream:
        assert stream.file_name == "archive.zip"
        data = b"".join(stream)
    assert zip_contents(data) == expected_members(root, "docs")
    status = client.get_status(download)
    assert (status.total_file_count, status.downloaded_file_count, status.state) == (3, 3, "succeeded")
    with pytest.raises(DownloadUrlUsed):
        client.open_content(download)


def test_errors_carry_box_fields(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client
) -> None:
    root, _ = tree
    server = start_server(root, "--max-files", "1")
    client = client_for(server, http)
    with pytest.raises(LimitExceeded) as caught:
        client.create_zip_download(folder_request(root, "docs"))
    error = caught.value
    assert (error.status, error.code) == (400, "zip_download_file_count_exceeded_limit")
    assert error.request_id and error.request_id in str(error)
    with pytest.raises(NotFound):
        client.create_zip_download(ZipRequest((ZipItem("file", "12345678901"),)))
    bad = BoxClient(http, StaticTokenAuth("wrong"), server.url)
    with pytest.raises(AuthError):
        bad.create_zip_download(folder_request(root, "docs"))


def test_create_hands_429_to_the_caller_and_retries_5xx(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client
) -> None:
    """The download decides how to wait out a 429 (visibly, within its deadline), not the client."""
    root, _ = tree
    server = start_server(root, "--fail-create", "429:7", "--fail-create", "502")
    slept: list[float] = []
    client = client_for(server, http, sleep=slept.append, retry=RetryPolicy(attempts=4, backoff=0.2))
    with pytest.raises(TooManyRequests) as throttled:
        client.create_zip_download(folder_request(root, "docs"))
    assert throttled.value.retry_after == 7.0 and slept == []
    download = client.create_zip_download(folder_request(root, "docs"))
    assert len(slept) == 1 and 0.1 <= slept[0] <= 0.8
    assert zip_contents(b"".join(client.open_content(download))) == expected_members(root, "docs")


def test_other_calls_retry_429_honouring_retry_after() -> None:
    answers = iter([429, 429, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        if status == 429:
            return httpx.Response(429, headers={"Retry-After": "7"}, json={"code": "rate_limited"})
        return httpx.Response(200, json={"state": "succeeded", "total_file_count": 1})

    slept: list[float] = []
    client = BoxClient(
        httpx.Client(transport=httpx.MockTransport(handler)),
        StaticTokenAuth("t"),
        "http://box",
        RetryPolicy(attempts=4),
        sleep=slept.append,
    )
    status = client.get_status(ZipDownload("http://box/content", "http://box/status", ""))
    assert status.state == "succeeded" and slept == [7.0, 7.0]


def test_retries_are_bounded_and_never_follow_a_202() -> None:
    statuses = iter([503, 503, 503, 202])
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        status = next(statuses)
        if status == 202:
            return httpx.Response(202, json={"download_url": "u", "status_url": "s", "expires_at": ""})
        return httpx.Response(status, json={"code": "unavailable", "message": "down", "request_id": "r1"})

    slept: list[float] = []
    client = BoxClient(
        httpx.Client(transport=httpx.MockTransport(handler)),
        StaticTokenAuth("t"),
        "http://box",
        retry=RetryPolicy(attempts=3),
        sleep=slept.append,
    )
    with pytest.raises(ServerError) as caught:
        client.create_zip_download(ZipRequest((ZipItem("file", "1"),)))
    assert (caught.value.status, caught.value.request_id) == (503, "r1")
    assert calls == 3
    assert len(slept) == 2
    client.create_zip_download(ZipRequest((ZipItem("file", "1"),)))
    assert calls == 4


def test_network_errors_retry_then_surface_without_urls() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = BoxClient(
        httpx.Client(transport=httpx.MockTransport(handler)),
        StaticTokenAuth("tok-secret"),
        "http://box",
        retry=RetryPolicy(attempts=2),
        sleep=lambda _: None,
    )
    with pytest.raises(NetworkError) as caught:
        client.get_status(ZipDownload("http://dl/secret-url", "http://box/status-secret", ""))
    assert "secret" not in str(caught.value)


def test_cut_stream_raises_stream_broken(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client
) -> None:
    root, _ = tree
    server = start_server(root, "--cut-after", "5000")
    client = client_for(server, http)
    download = client.create_zip_download(folder_request(root, "docs"))
    received = 0
    with pytest.raises(StreamBroken), client.open_content(download) as stream:
        for chunk in stream:
            received += len(chunk)
    assert received == 5000


def test_refresh_token_rotates_and_is_persisted_before_use(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client, tmp_path: Path
) -> None:
    root, _ = tree
    users = write_users(
        tmp_path / "users.json", [{"id": "7", "refresh_tokens": ["first-refresh"]}], clients=True
    )
    server = start_server(root, "--users", str(users), "--token-ttl", "1")
    store = tmp_path / "state" / "refresh.json"
    store.parent.mkdir()
    store.write_text(json.dumps({"refresh_token": "first-refresh"}))
    auth = RefreshTokenAuth(http, f"{server.url}/oauth2/token", store, "cid", "cs")
    client = BoxClient(http, auth, server.url)
    assert [e.name for e in client.list_folder("0")] == ["docs", "photos", "top.txt"]
    rotated = json.loads(store.read_text())["refresh_token"]
    assert rotated != "first-refresh"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert "first-refresh" not in repr(auth) and rotated not in repr(auth)

    import time

    time.sleep(1.2)  # the access token expired: the next call refreshes (proactively or after a 401)
    assert len(list(client.list_folder("0"))) == 3
    assert json.loads(store.read_text())["refresh_token"] != rotated

    auth._access = "stale-token"  # a 401 triggers exactly one refresh and a retry
    auth._expires = time.monotonic() + 100
    assert len(list(client.list_folder("0"))) == 3

    store.write_text(json.dumps({"refresh_token": "revoked"}))
    dead = BoxClient(
        http, RefreshTokenAuth(http, f"{server.url}/oauth2/token", store, "cid", "cs"), server.url
    )
    with pytest.raises(AuthError) as caught:
        list(dead.list_folder("0"))
    assert "revoked" not in str(caught.value)
    assert "invalid_grant" in str(caught.value)


def test_client_credentials(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, http: httpx.Client, tmp_path: Path
) -> None:
    root, _ = tree
    users = tmp_path / "users.json"
    users.write_text(
        json.dumps(
            {"clients": [{"client_id": "cid", "client_secret": "cs", "user_id": "1", "enterprise_id": "500"}]}
        )
    )
    server = start_server(root, "--users", str(users))
    auth = ClientCredentialsAuth(http, f"{server.url}/oauth2/token", "cid", "cs", "enterprise", "500")
    client = BoxClient(http, auth, server.url)
    download = client.create_zip_download(folder_request(root, "photos"))
    assert zip_contents(b"".join(client.open_content(download))) == expected_members(root, "photos")
    wrong = ClientCredentialsAuth(http, f"{server.url}/oauth2/token", "cid", "nope", "enterprise", "500")
    with pytest.raises(AuthError, match="invalid_client"):
        BoxClient(http, wrong, server.url).create_zip_download(folder_request(root, "photos"))


def test_static_token_401_is_unauthorized_after_no_refresh() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"code": "unauthorized", "message": "no"})

    client = BoxClient(
        httpx.Client(transport=httpx.MockTransport(handler)), StaticTokenAuth("t"), "http://box"
    )
    with pytest.raises(AuthError, match="cannot be refreshed"):
        client.create_zip_download(ZipRequest((ZipItem("file", "1"),)))


def test_list_folder_follows_every_page(
    tmp_path: Path, start_server: StartServer, http: httpx.Client
) -> None:
    root = tmp_path / "many"
    (root / "dir").mkdir(parents=True)
    for i in range(2345):
        (root / "dir" / f"f{i:05d}").touch()
    server = start_server(root)
    names = [e.name for e in client_for(server, http).list_folder(file_id(root, "dir"))]
    assert names == [f"f{i:05d}" for i in range(2345)]


def test_no_secret_reaches_logs_or_reprs(
    tree: tuple[Path, dict[str, bytes]],
    server: LocalServer,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root, _ = tree
    caplog.set_level(logging.DEBUG)
    client = client_for(server, http)
    download = client.create_zip_download(folder_request(root, "docs"))
    b"".join(client.open_content(download))
    client.get_status(download)
    secret_id = download.download_url.split("/")[-2]
    assert secret_id not in repr(download)
    assert secret_id not in caplog.text
    assert server.token not in caplog.text
    assert server.token not in repr(client.auth)
    assert "zip_downloads/***" in caplog.text  # httpx did log the request, redacted
    assert server.token not in Path(f"/proc/{server.process.pid}/cmdline").read_text()
    assert os.environ.get("BOXZIPFS_SERVE_TOKENS") is None


def test_auth_from_env_picks_the_configured_grant(tmp_path: Path) -> None:
    from boxzipfs.client.auth import auth_from_env

    http = httpx.Client()
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    assert auth_from_env(http, "http://box", {"BOX_ACCESS_TOKEN": "t"}).token() == "t"
    assert auth_from_env(http, "http://box", {"BOX_TOKEN_FILE": str(token_file)}).token() == "file-token"
    refresh = {"BOX_CLIENT_ID": "c", "BOX_CLIENT_SECRET": "s", "BOX_REFRESH_TOKEN_STORE": str(tmp_path / "r")}
    assert isinstance(auth_from_env(http, "http://box", refresh), RefreshTokenAuth)
    ccg = {"BOX_CLIENT_ID": "c", "BOX_CLIENT_SECRET": "s", "BOX_SUBJECT_TYPE": "user", "BOX_SUBJECT_ID": "7"}
    assert isinstance(auth_from_env(http, "http://box", ccg), ClientCredentialsAuth)
    with pytest.raises(AuthError, match="no Box credentials"):
        auth_from_env(http, "http://box", {})
    http.close()

"""The content GET over libcurl (boxzipfs.client.curl) against a real loopback HTTP server:
bytes exact through redirects, Box's error answers, a stall, too many hops, TLS trust, and the
proxy decision shared with httpx."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from boxzipfs.client.auth import StaticTokenAuth
from boxzipfs.client.box import BoxClient, http_client
from boxzipfs.client.curl import CurlContent
from boxzipfs.client.wire import Wire, proxy_for
from boxzipfs.errors import (
    Cancelled,
    DownloadUrlUsed,
    NotFound,
    StreamBroken,
    TooManyRequests,
    UntrustedServer,
)
from boxzipfs.models import ZipDownload

BODY = os.urandom(3 << 20)  # several rounds of libcurl's buffer


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    gets: list[str] = []
    downgrade_to = ""

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        Handler.gets.append(self.path)
        if self.path == "/data":
            named = {"Content-Disposition": "attachment; filename*=UTF-8''R%C3%A9sum%C3%A9.zip"}
            self._answer(200, BODY, named)
        elif self.path == "/hop":
            self._answer(302, b"", {"Location": "/data"})
        elif self.path == "/downgrade":
            self._answer(302, b"", {"Location": Handler.downgrade_to})
        elif self.path == "/loop":
            self._answer(302, b"", {"Location": "/loop"})
        elif self.path == "/busy":
            body = {"type": "error", "status": 429, "code": "user_too_many_concurrent_downloads",
                    "message": "too many", "request_id": "r1"}  # fmt: skip
            headers = {"Retry-After": "7", "Content-Type": "application/json"}
            self._answer(429, json.dumps(body).encode(), headers)
        elif self.path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:1000])
            self.wfile.flush()
            time.sleep(4)
        else:
            self._answer(404, b'{"code": "not_found", "message": "no"}', {"Content-Type": "application/json"})


@contextlib.contextmanager
def serving(context: ssl.SSLContext | None = None) -> Iterator[str]:
    """The handler on a loopback port (TLS with ``context``); its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"{'https' if context else 'http'}://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[str]:
    Handler.gets = []
    with serving() as url:
        yield url


def received(content: CurlContent) -> bytes:
    with content:
        content.start()
        return b"".join(content)


def test_a_redirect_is_followed_and_the_bytes_are_exact(server: str) -> None:
    content = CurlContent(f"{server}/hop", Wire(stall_timeout=5))
    data = received(content)
    assert hashlib.sha256(data).digest() == hashlib.sha256(BODY).digest()
    assert content.file_name == "Résumé.zip"
    assert Handler.gets == ["/hop", "/data"]  # the hop once, then its location once


def test_an_error_answer_is_boxs_error_and_the_url_is_never_asked_again(server: str) -> None:
    client = BoxClient(http_client(Wire(5)), StaticTokenAuth("t"), server, wire=Wire(stall_timeout=5))
    download = ZipDownload(f"{server}/busy", f"{server}/status", "")
    with pytest.raises(TooManyRequests) as caught:
        client.open_content(download)
    assert (caught.value.code, caught.value.retry_after, caught.value.request_id) == (
        "user_too_many_concurrent_downloads", 7.0, "r1"
    )
    with pytest.raises(DownloadUrlUsed):
        client.open_content(download)
    assert Handler.gets == ["/busy"]
    with pytest.raises(NotFound):
        received(CurlContent(f"{server}/gone", Wire(stall_timeout=5)))


def test_a_stalled_stream_breaks_after_the_stall_timeout(server: str) -> None:
    content = CurlContent(f"{server}/stall", Wire(stall_timeout=1))
    started = time.monotonic()
    with pytest.raises(StreamBroken, match="no bytes arrived in time"):
        received(content)
    assert 0.9 < time.monotonic() - started < 3.5


def test_a_stop_ends_a_stalled_stream_within_a_second(server: str) -> None:
    """An abandoned download frees its slot and an unmount goes on without waiting for the stall
    timeout: the stop is looked at every second, bytes or not."""
    stop = threading.Event()
    content = CurlContent(f"{server}/stall", Wire(stall_timeout=30), stop.is_set)
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        received(content)
    assert 0.4 < time.monotonic() - started < 2.0


def test_too_many_redirects_break_the_stream(server: str) -> None:
    with pytest.raises(StreamBroken, match="too_many_redirects"):
        received(CurlContent(f"{server}/loop", Wire(stall_timeout=5, max_redirects=3)))
    assert Handler.gets == ["/loop"] * 4


@contextlib.contextmanager
def https_server(ca: trustme.CA) -> Iterator[str]:
    """The handler over TLS with a certificate of ``ca``; the URL of its data."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with serving(context) as url:
        yield f"{url}/data"


def test_tls_is_verified_against_the_ca_file_and_never_skipped(tmp_path: Path) -> None:
    ca = trustme.CA()
    with https_server(ca) as url:
        with pytest.raises(UntrustedServer, match="--ca-file"):
            received(CurlContent(url, Wire(stall_timeout=5)))
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        assert received(CurlContent(url, Wire(stall_timeout=5, ca_file=str(ca_file)))) == BODY


def test_a_redirect_never_leaves_tls(server: str, tmp_path: Path) -> None:
    """An https download URL that redirects to plain http is refused, never followed."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    Handler.downgrade_to = f"{server}/data"
    try:
        with https_server(ca) as url, pytest.raises(StreamBroken, match="not HTTPS"):
            received(CurlContent(url.replace("/data", "/downgrade"), Wire(5, ca_file=str(ca_file))))
    finally:
        Handler.downgrade_to = ""
    assert "/data" not in Handler.gets  # the plain-http location was never asked for


def test_a_ca_file_adds_to_the_systems_trust_never_replaces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The content host (Box's, a public CA) must verify even when --ca-file names a corporate CA."""
    public, corporate = trustme.CA(), trustme.CA()
    system_bundle, ca_file = tmp_path / "system.pem", tmp_path / "corporate.pem"
    public.cert_pem.write_to_path(str(system_bundle))
    corporate.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(system_bundle))  # this test's "system" bundle
    wire = Wire(stall_timeout=5, ca_file=str(ca_file))
    for ca in (public, corporate):
        with https_server(ca) as url:
            assert received(CurlContent(url, wire)) == BODY
    with https_server(trustme.CA()) as url, pytest.raises(UntrustedServer):
        received(CurlContent(url, wire))


def test_the_proxy_is_decided_as_httpx_decides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert proxy_for("https://dl.boxcloud.com/x", Wire(5)) == ""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.internal")
    assert proxy_for("https://dl.boxcloud.com/x", Wire(5)) == "http://proxy.internal:3128"
    assert proxy_for("https://files.internal/x", Wire(5)) == ""  # NO_PROXY names it
    assert proxy_for("http://dl.boxcloud.com/x", Wire(5)) == ""  # no proxy for plain http
    assert proxy_for("https://files.internal/x", Wire(5, proxy="http://p:1")) == "http://p:1"  # --proxy wins

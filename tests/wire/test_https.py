"""#20 section 1: HTTPS and proxies. The server serves HTTPS with a throw-away CA; the mount
verifies TLS (system trust store plus --ca-file), refuses a server it cannot verify with one
clear line, and goes through a real CONNECT proxy (--proxy or HTTPS_PROXY)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from boxzipfs.server.child import LocalServer
from tests.conftest import StartServer
from tests.helpers import boxzipfs, expected_members, file_id, zip_contents
from tests.mounting import is_mounted
from tests.wire.proxy import ConnectProxy

Mount = Callable[..., Path]


def https_server(
    start_server: StartServer, root: Path, tmp_path: Path, *args: str
) -> tuple[LocalServer, Path]:
    server = start_server(root, "--tls-self-signed", str(tmp_path / "tls"), *args)
    assert server.url.startswith("https://")
    return server, tmp_path / "tls" / "ca.pem"


def read_both(mp: Path, root: Path, files: dict[str, bytes]) -> None:
    (mp / "r").mkdir()
    docs = {"items": [{"type": "folder", "id": file_id(root, "docs")}]}
    (mp / "r" / "request.json").write_text(json.dumps(docs))
    assert zip_contents((mp / "r" / "request.zip").read_bytes()) == expected_members(root, "docs")
    assert (mp / "browse" / "docs" / "nested" / "data.bin").read_bytes() == files["docs/nested/data.bin"]


@pytest.mark.mount
def test_a_mount_over_https_with_its_ca_file_reads_byte_exact(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, start_server: StartServer, tmp_path: Path
) -> None:
    root, files = tree
    server, ca = https_server(start_server, root, tmp_path, "--redirect-content")
    env = {"BOX_ACCESS_TOKEN": server.token}
    mp = mount("--api-url", server.url, "--ca-file", str(ca), env=env)
    read_both(mp, root, files)


@pytest.mark.mount
def test_a_server_the_mount_cannot_verify_fails_the_mount_in_one_line(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, tmp_path: Path
) -> None:
    root, _ = tree
    server, _ = https_server(start_server, root, tmp_path)
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    mp = tmp_path / "mnt"
    mp.mkdir()
    for extra in ([], ["--ca-file", str(other_ca)]):  # the system's store alone, or a wrong CA
        done = boxzipfs(
            "mount", mp, "--api-url", server.url, "--state-dir", tmp_path / "st",
            "--cache-dir", tmp_path / "c", *extra, env={"BOX_ACCESS_TOKEN": server.token},
        )  # fmt: skip
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode != 0 and len(lines) == 1, done.stderr
        assert "not trusted" in lines[0] and "--ca-file" in lines[0]
        assert not is_mounted(mp)


@pytest.mark.mount
def test_a_mount_through_a_connect_proxy(
    tree: tuple[Path, dict[str, bytes]], mount: Mount, start_server: StartServer, tmp_path: Path
) -> None:
    root, files = tree
    server, ca = https_server(start_server, root, tmp_path, "--redirect-content")
    with ConnectProxy() as proxy:
        mp = mount("--api-url", server.url, "--ca-file", str(ca), "--proxy", proxy.url,
                   env={"BOX_ACCESS_TOKEN": server.token})  # fmt: skip
        read_both(mp, root, files)
        api_port = server.url.rsplit(":", 1)[1]
        assert any(target.endswith(api_port) for target in proxy.tunnels)
        assert len(proxy.tunnels) >= 2  # the API host and the content host, both through it


def test_https_proxy_from_the_environment_and_no_password_on_the_command_line(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, tmp_path: Path
) -> None:
    root, _ = tree
    server, ca = https_server(start_server, root, tmp_path)
    with ConnectProxy(credentials="ann:proxy-s3cret") as proxy:
        with_password = proxy.url.replace("http://", "http://ann:proxy-s3cret@")
        env = {"BOX_ACCESS_TOKEN": server.token, "HTTPS_PROXY": with_password, "NO_PROXY": ""}
        listed = boxzipfs("ls", "--api-url", server.url, "--ca-file", ca, env=env)
        assert listed.returncode == 0, listed.stderr
        assert "docs" in listed.stdout and proxy.tunnels and proxy.refused == 0
    refused = boxzipfs("ls", "--proxy", "http://ann:proxy-s3cret@127.0.0.1:9", "--local", root)
    assert refused.returncode == 2 and "proxy-s3cret" not in refused.stderr
    assert "password on the command line" in refused.stderr
    assert os.environ.get("HTTPS_PROXY") is None  # the tests' own environment stays clean

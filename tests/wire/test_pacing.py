"""#20 section 3: Box's API rate limit, paced rather than bounced off. The server answers Box's
429 rate_limit_exceeded past --api-rate-limit (content is not limited); the mount paces its
calls under --api-calls-per-minute, and the hosts of a fleet share one budget in Redis."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from boxzipfs.server.child import LocalServer
from tests.conftest import StartServer
from tests.helpers import bearer, boxzipfs, create, file_id
from tests.redisserver import RedisServer

Mount = Callable[..., Path]
FILES = 60


def stats(server: LocalServer) -> dict[str, int]:
    return dict(httpx.get(f"{server.url}/_boxzipfs/stats", headers=bearer(server.token)).json())


def many(root: Path, name: str, count: int) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for index in range(count):
        (folder / f"f{index:03d}.txt").write_bytes(f"{name} {index}\n".encode())
    return folder


def copy_and_check(mp: Path, source: Path, out: Path) -> None:
    done = subprocess.run(["cp", "-r", str(mp / "browse" / source.name), str(out)],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert all((out / p.name).read_bytes() == p.read_bytes() for p in source.iterdir())


def test_past_the_limit_the_server_answers_boxs_429_and_content_is_not_limited(
    tmp_path: Path, start_server: StartServer, http: httpx.Client
) -> None:
    root = tmp_path / "box"
    many(root, "docs", 3)
    server = start_server(root, "--api-rate-limit", "4")
    docs = {"items": [{"type": "folder", "id": file_id(root, "docs")}]}
    made = create(http, server.url, server.token, docs)
    for _ in range(3):
        assert http.get(f"{server.url}/2.0/folders/0/items", headers=bearer(server.token)).status_code == 200
    refused = http.get(f"{server.url}/2.0/folders/0/items", headers=bearer(server.token))
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert http.get(made.json()["download_url"]).status_code == 200  # the content host has no such limit
    assert stats(server)["answered_429"] == 1


@pytest.mark.mount
@pytest.mark.daemon_log(r"download \S+ failed: ")
def test_a_paced_copy_meets_no_429_and_an_unpaced_one_does(
    tmp_path: Path, mount: Mount, start_server: StartServer
) -> None:
    root = tmp_path / "box"
    source = many(root, "many", FILES)
    limits = ("--api-rate-limit", "600", "--api-burst-limit", "12")
    unpaced_server = start_server(root, *limits)
    # one create per file (no folder prefetch), so that the calls to pace are many
    per_file = ("--prefetch-after", "0")
    fast = mount("--api-url", unpaced_server.url, "--api-calls-per-minute", "100000", *per_file,
                 env={"BOX_ACCESS_TOKEN": unpaced_server.token})  # fmt: skip
    copy_and_check(fast, source, tmp_path / "fast")
    assert stats(unpaced_server)["answered_429"] > 0  # the limit bites a mount that does not pace

    server = start_server(root, *limits)
    paced = mount("--api-url", server.url, "--api-calls-per-minute", "480", *per_file,
                  env={"BOX_ACCESS_TOKEN": server.token}, state="state-paced")  # fmt: skip
    copy_and_check(paced, source, tmp_path / "paced")
    assert stats(server)["answered_429"] == 0
    usage = json.loads(os.getxattr(paced, "user.boxzipfs.api"))
    assert usage["calls"]["zip_downloads"] == stats(server)["creates"] == FILES
    assert usage["per_minute"] == 480 and usage["calls"]["folder_items"] >= 2
    shown = boxzipfs("status", paced, "--once", env={"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    listed = usage["calls"]["folder_items"]
    assert f"Box API calls: folder_items {listed}, users_me 1, zip_downloads {FILES}" in shown.stdout
    assert "budget 480/min" in shown.stdout


@pytest.mark.mount
def test_three_mounts_of_a_fleet_share_one_budget_and_meet_no_429(
    tmp_path: Path, mount: Mount, start_server: StartServer, redis_server: RedisServer
) -> None:
    root = tmp_path / "box"
    sources = [many(root, f"part{index}", 20) for index in range(3)]
    server = start_server(root, "--api-rate-limit", "600", "--api-burst-limit", "12")
    env = {"BOX_ACCESS_TOKEN": server.token, "BOXZIPFS_REDIS_URL": redis_server.url}
    paced = ("--fleet", "paced", "--api-calls-per-minute", "480", "--prefetch-after", "0")  # a create a file
    mounts = [mount("--api-url", server.url, *paced, env=env, state=f"state{index}") for index in range(3)]
    copies = [
        threading.Thread(target=copy_and_check, args=(mp, source, tmp_path / f"out{index}"))
        for index, (mp, source) in enumerate(zip(mounts, sources, strict=True))
    ]
    for copy in copies:
        copy.start()
    for copy in copies:
        copy.join(300)
    assert all((tmp_path / f"out{index}").is_dir() for index in range(3))
    assert stats(server)["answered_429"] == 0  # each alone at 8/s would make 24/s together
    shared = json.loads(os.getxattr(mounts[0], "user.boxzipfs.api"))
    assert shared["shared"] is True

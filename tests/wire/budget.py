"""scripts/check-api-budget: copies out of browse/ under Box's per-user API limit, by one mount
and by three mounts of a fleet, counting the 429s the server answered."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx

from boxzipfs.server.child import start_local_server
from tests.helpers import bearer
from tests.mounting import mounted
from tests.redisserver import RedisServer

LIMIT = "1000"  # Box's API calls per user per minute


def _many(root: Path, name: str, count: int) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for index in range(count):
        (folder / f"f{index:04d}.txt").write_bytes(f"{name} {index}\n".encode() * 20)
    return folder


def _copy(mp: Path, source: Path, out: Path) -> bool:
    done = subprocess.run(["cp", "-r", str(mp / "browse" / source.name), str(out)],
                          capture_output=True, timeout=3600, check=False)  # fmt: skip
    return done.returncode == 0 and all(
        (out / p.name).read_bytes() == p.read_bytes() for p in source.iterdir()
    )


def check_budget(files: int, say: Callable[[str], None]) -> bool:
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        base = Path(tmp)
        root = base / "box"
        source = _many(root, "many", files)
        parts = [_many(root, f"part{i}", -(-files // 3)) for i in range(3)]
        server = stack.enter_context(start_local_server(root, ["--api-rate-limit", LIMIT]))
        env = {"BOX_ACCESS_TOKEN": server.token, "XDG_CONFIG_HOME": str(base / "config")}

        def stats() -> dict[str, int]:
            return dict(httpx.get(f"{server.url}/_boxzipfs/stats", headers=bearer(server.token)).json())

        def mount(name: str, *more: str, extra_env: dict[str, str] | None = None) -> Path:
            mp = base / name
            args = ["--api-url", server.url, "--state-dir", str(base / f"state-{name}"),
                    "--cache-dir", str(base / f"cache-{name}"), *more]  # fmt: skip
            stack.enter_context(mounted(mp, args, base / f"{name}.log", {**env, **(extra_env or {})}, 60))
            return mp

        one = mount("one")
        started = time.monotonic()
        exact = _copy(one, source, base / "out-one")
        took = time.monotonic() - started
        after_one = stats()
        usage = json.loads(os.getxattr(one, "user.boxzipfs.api"))
        say(f"one mount, cp -r of {files} browse files under {LIMIT}/min: byte-exact {exact}, "
            f"{took:.1f} s ({files / took:.1f} files/s), 429s answered {after_one['answered_429']}, "
            f"API calls {usage['calls']} (budget {usage['per_minute']}/min, "
            f"waited {usage['seconds_waited']} s)")  # fmt: skip

        redis = stack.enter_context(_redis())
        fleet_env = {"BOXZIPFS_REDIS_URL": redis.url}
        mounts = [mount(f"fleet{i}", "--fleet", "budget", extra_env=fleet_env) for i in range(3)]
        results: list[bool] = []
        copies = [threading.Thread(target=lambda m=m, p=p, i=i: results.append(_copy(m, p, base / f"out{i}")))
                  for i, (m, p) in enumerate(zip(mounts, parts, strict=True))]  # fmt: skip
        started = time.monotonic()
        for copy in copies:
            copy.start()
        for copy in copies:
            copy.join()
        took = time.monotonic() - started
        answered = stats()["answered_429"] - after_one["answered_429"]
        total = sum(len(list(p.iterdir())) for p in parts)
        say(
            f"three mounts of a fleet, {total} files at once under {LIMIT}/min: byte-exact {all(results)}, "
            f"{took:.1f} s ({total / took:.1f} files/s), 429s answered {answered}"
        )
        return (
            exact and after_one["answered_429"] == 0 and all(results) and len(results) == 3 and answered == 0
        )


class _redis:
    def __enter__(self) -> RedisServer:
        self.server = RedisServer(password="budget-pw")
        return self.server.start()

    def __exit__(self, *exc: object) -> None:
        self.server.close()

"""Run ``boxzipfs serve`` as a child process on a free loopback port.

Used by ``boxzipfs mount --local`` and by the tests. Tokens go to the child
through its environment, never its arguments.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from boxzipfs.errors import BoxZipError

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class ServerStartError(BoxZipError):
    """The server process exited before announcing its URL."""


@dataclass
class LocalServer:
    """A running ``boxzipfs serve`` child; stop() ends it."""

    url: str
    token: str = field(repr=False)
    process: subprocess.Popen[bytes]

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_server(
    root: Path,
    extra_args: list[str] | None = None,
    token: str | None = None,
    env: dict[str, str] | None = None,
    stderr: int | None = None,
) -> LocalServer:
    """Start a server over ``root`` with ``token`` (random if None); returns once it listens."""
    token = token or secrets.token_urlsafe(24)
    child_env = {**os.environ, **(env or {}), "BOXZIPFS_SERVE_TOKENS": token}
    # -P: the installed package, never a folder named boxzipfs in the current directory.
    argv = [sys.executable, "-P", "-m", "boxzipfs", "serve", "--root", str(root), "--port", "0"]
    process = subprocess.Popen(
        argv + (extra_args or []),
        stdout=subprocess.PIPE,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        env=child_env,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()
    if not line.startswith("listening on "):
        process.kill()
        process.wait()
        raise ServerStartError(f"boxzipfs serve did not start (exit {process.returncode})")
    return LocalServer(line.removeprefix("listening on "), token, process)

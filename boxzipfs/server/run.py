"""Start the server on a socket: bind first (port 0 picks a free one), announce
the URL on stdout, then let uvicorn accept (over HTTPS with a certificate). Access
logs stay off: content URLs are secrets."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import uvicorn

from boxzipfs.server.accounts import Accounts
from boxzipfs.server.app import BoxApp
from boxzipfs.server.config import ServerConfig
from boxzipfs.server.store import LocalStore


def build_app(
    root: Path,
    tokens: list[str],
    config: ServerConfig,
    users_file: Path | None = None,
    refresh_tokens: list[str] | None = None,
) -> BoxApp:
    accounts = Accounts(tokens, users_file, config.token_ttl, refresh_tokens, config.clock_offset)
    return BoxApp(LocalStore(root), accounts, config)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it: without it, a response's small second write (the body
    # after the headers) waits out the client's delayed ACK, 40 ms per request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, scheme: str = "http") -> str:
    host, port = sock.getsockname()[:2]
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def serve(
    box: BoxApp,
    host: str,
    port: int,
    log_level: str = "warning",
    tls: tuple[Path, Path] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; the first line on stdout is ``listening on URL``. With
    ``redirect_content``, a second listener (a free port) serves the content GETs that the
    first one redirects to it, as Box's API host sends content to another host."""
    scheme = "https" if tls else "http"
    sock = bind(host, port)
    sockets = [sock]
    if box.config.redirect_content:
        content = bind(host, 0)
        sockets.append(content)
        box.config.content_url = url_of(content, scheme)
    print(f"listening on {url_of(sock, scheme)}", flush=True)
    cert, key = tls or (None, None)
    config = uvicorn.Config(
        box.app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        date_header=False,  # the app sends its own, from its own clock
        ssl_certfile=str(cert) if cert else None,
        ssl_keyfile=str(key) if key else None,
    )
    uvicorn.Server(config).run(sockets=sockets)
    sys.stdout.flush()

"""A small HTTP CONNECT proxy for the tests (a forward proxy as companies run): it tunnels
each CONNECT to its target, counts the tunnels, and can require Basic credentials."""

from __future__ import annotations

import base64
import select
import socket
import socketserver
import threading
from collections import Counter


class ConnectProxy:
    def __init__(self, credentials: str | None = None) -> None:
        self.tunnels: Counter[str] = Counter()
        self.refused = 0
        expected = None if credentials is None else base64.b64encode(credentials.encode()).decode()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head:
                    data = self.connection.recv(4096)
                    if not data:
                        return
                    head += data
                lines = head.split(b"\r\n")
                method, target, _ = lines[0].decode().split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (line.decode().partition(":") for line in lines[1:] if b":" in line)}  # fmt: skip
                if method != "CONNECT":
                    self.connection.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    return
                if expected is not None and headers.get("proxy-authorization") != f"Basic {expected}":
                    proxy.refused += 1
                    self.connection.sendall(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                        b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n"
                    )
                    return
                host, _, port = target.rpartition(":")
                upstream = socket.create_connection((host.strip("[]"), int(port)))
                proxy.tunnels[target] += 1
                self.connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pair = [self.connection, upstream]
                try:
                    while True:
                        ready, _, _ = select.select(pair, [], [], 60)
                        if not ready:
                            return
                        for side in ready:
                            data = side.recv(1 << 16)
                            if not data:
                                return
                            (upstream if side is self.connection else self.connection).sendall(data)
                finally:
                    upstream.close()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

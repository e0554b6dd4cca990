"""The daemon's HTTP side on ``--metrics-addr``: ``/metrics`` (Prometheus), ``/healthz``
(alive: the FUSE loop answers) and ``/readyz`` (ready to serve), each probe a 200 or a
503 with a short JSON reason."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import MetricsHandler
from prometheus_client.registry import CollectorRegistry

from boxzipfs.mount.health import Health


def serve_probes(host: str, port: int, health: Health, registry: CollectorRegistry) -> ThreadingHTTPServer:
    """Listen on ``host:port`` in a daemon thread; the server (``shutdown()`` ends it)."""
    metrics_handler: Any = MetricsHandler.factory(registry)

    class Handler(metrics_handler):  # type: ignore[misc]
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._verdict(health.alive().to_json())
            elif path == "/readyz":
                self._verdict(health.ready().to_json())
            else:
                super().do_GET()

        def _verdict(self, verdict: dict[str, object]) -> None:
            body = json.dumps(verdict).encode()
            self.send_response(200 if verdict["ok"] else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server

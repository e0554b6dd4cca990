"""What every connection of the mount shares: timeouts, trust, proxy, redirects.

The API calls (httpx, :func:`boxzipfs.client.box.http_client`) and the content
GET (libcurl, :mod:`boxzipfs.client.curl`) are both built from one :class:`Wire`,
so a CA file, a proxy or a timeout given once applies to both.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_REDIRECTS = 5  # hops a content GET follows (Box sends content from another host)


@dataclass(frozen=True)
class Wire:
    stall_timeout: float  # a read that waits longer breaks the stream
    connect_timeout: float = 30.0
    ca_file: str | None = None  # trusted beside the system's trust store, never instead of it
    proxy: str | None = None  # else the environment's (HTTPS_PROXY, NO_PROXY, ...)
    max_redirects: int = MAX_REDIRECTS


def proxy_for(url: str, wire: Wire) -> str:
    """The proxy a request to ``url`` goes through ('' for none): ``--proxy`` first, else the
    environment's for its scheme (or ALL_PROXY), unless NO_PROXY names the host, as httpx decides."""
    if wire.proxy:
        return wire.proxy
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    chosen = proxies.get(parts.scheme) or proxies.get("all") or ""
    if chosen and urllib.request.proxy_bypass(parts.hostname or ""):
        return ""
    return chosen

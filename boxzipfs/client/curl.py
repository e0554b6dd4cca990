"""The content GET of a zip download, received by libcurl (pycurl).

A zip download's one body is the mount's only bulk transfer; libcurl receives it
in C with the interpreter lock released, where httpx spends Python on every
socket read and h11 buffer copy (scripts/bench, README "Benchmarks"). Only this
GET goes through libcurl; every API call stays on httpx.

It follows the same wire as the httpx client (:class:`Wire`): TLS verified against
the system's trust store plus ``--ca-file`` and never switched off; ``--proxy``,
else HTTPS_PROXY/HTTP_PROXY/ALL_PROXY and NO_PROXY from the environment, decided
here in Python the way httpx decides them; redirects followed, a bounded number,
each a GET of a new location (the download URL itself is never asked for twice);
a read stalled past the stall timeout breaks the stream. The body arrives through
the multi interface, so this object is an iterator the download's own thread
drives, with no hand-off between threads.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
import time
from collections.abc import Callable, Iterator

import pycurl

from boxzipfs.client.answers import disposition_name, error_from_parts, untrusted
from boxzipfs.client.wire import Wire, proxy_for
from boxzipfs.errors import Cancelled, StreamBroken

log = logging.getLogger(__name__)

BUFFER_BYTES = 1 << 20  # libcurl's receive buffer (16 KiB by default): fewer, fuller socket reads
ERROR_BODY_BYTES = 64 << 10  # an error answer's body kept to read Box's code and message
REDIRECTS = (301, 302, 303, 307, 308)
_TLS_ERRORS = {pycurl.E_PEER_FAILED_VERIFICATION, pycurl.E_SSL_CACERT, pycurl.E_SSL_CACERT_BADFILE}


@functools.lru_cache(maxsize=4)
def trust_bundle(ca_file: str, system_file: str | None) -> bytes:
    """The system's CA bundle followed by ``--ca-file`` (read once per mount): libcurl takes one
    bundle, and a CA file must add to the system's trust, as it does for the API calls."""
    parts = []
    for path in (system_file, ca_file):
        if path and os.path.exists(path):
            with open(path, "rb") as handle:
                parts.append(handle.read())
    return b"\n".join(parts)


def never() -> bool:
    return False


class CurlContent:
    """One content GET: ``start`` until Box answered, then iterate for chunks, then close."""

    def __init__(self, url: str, wire: Wire, stopped: Callable[[], bool] = never) -> None:
        self._stopped = stopped  # checked at least once a second, bytes or not
        self._easy = pycurl.Curl()
        self._multi = pycurl.CurlMulti()
        self._chunks: list[bytes] = []
        self._idle = False
        self._status = 0  # of the answer being received (each redirect hop starts a new one)
        self._headers: dict[str, str] = {}
        self._answered = False  # the final answer's headers are in
        # libcurl's end: its code (0: complete). Its message is never kept: it may name the URL.
        self._result: int | None = None
        self._closed = False
        self._stall_timeout = wire.stall_timeout
        self._heard = time.monotonic()  # when the server last sent anything (a stall is measured from it)
        self._header_lines = 0
        easy = self._easy
        easy.setopt(pycurl.URL, url)
        easy.setopt(pycurl.NOSIGNAL, 1)
        easy.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        easy.setopt(pycurl.FOLLOWLOCATION, 1)
        easy.setopt(pycurl.MAXREDIRS, wire.max_redirects)
        easy.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)  # no file://, no ftp://
        # A redirect never leaves TLS: an https download URL is followed to https only.
        secure = url.lower().startswith("https:")
        easy.setopt(pycurl.REDIR_PROTOCOLS, pycurl.PROTO_HTTPS | (0 if secure else pycurl.PROTO_HTTP))
        easy.setopt(pycurl.CONNECTTIMEOUT_MS, int(wire.connect_timeout * 1000))
        easy.setopt(pycurl.BUFFERSIZE, BUFFER_BYTES)
        easy.setopt(pycurl.TCP_NODELAY, 1)
        easy.setopt(pycurl.SSL_VERIFYPEER, 1)
        easy.setopt(pycurl.SSL_VERIFYHOST, 2)
        paths = ssl.get_default_verify_paths()  # the system's trust store, as truststore uses it
        if paths.capath:
            easy.setopt(pycurl.CAPATH, paths.capath)
            easy.setopt(pycurl.PROXY_CAPATH, paths.capath)
        if wire.ca_file:  # trusted beside the system's bundle, never instead of it
            bundle = trust_bundle(wire.ca_file, paths.cafile)
            easy.setopt(pycurl.CAINFO_BLOB, bundle)
            easy.setopt(pycurl.PROXY_CAINFO_BLOB, bundle)  # an HTTPS proxy is verified the same way
        elif paths.cafile:
            easy.setopt(pycurl.CAINFO, paths.cafile)
            easy.setopt(pycurl.PROXY_CAINFO, paths.cafile)
        easy.setopt(pycurl.PROXY, proxy_for(url, wire))  # '' turns libcurl's own env lookup off
        easy.setopt(pycurl.NOPROXY, "")
        easy.setopt(pycurl.HEADERFUNCTION, self._header)
        easy.setopt(pycurl.WRITEFUNCTION, self._chunks.append)  # C to C: no Python frame per chunk
        self._multi.add_handle(easy)

    # -- libcurl's callbacks (on the thread that drives the multi handle) ------------

    def _header(self, line: bytes) -> None:
        self._header_lines += 1
        text = line.decode("latin-1").rstrip("\r\n")
        if text.startswith("HTTP/"):
            fields = text.split(" ", 2)
            self._status = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
            self._headers = {}
        elif text and ":" in text:
            name, _, value = text.partition(":")
            self._headers[name.strip().lower()] = value.strip()
        elif not text and self._status >= 200 and not (
            self._status in REDIRECTS and "location" in self._headers
        ):
            self._answered = True

    # -- driving the transfer -------------------------------------------------------------

    def _step(self, wait: float = 1.0) -> None:
        """Wait for the socket (at most ``wait`` seconds), then let libcurl do what it can;
        StreamBroken once the server sent nothing for the stall timeout (as httpx's read
        timeout: libcurl's low-speed check averages over seconds and fires late)."""
        before = (self._header_lines, len(self._chunks))
        if self._stopped():
            raise Cancelled("cancelled")
        self._multi.select(wait)  # -1 or 0 too: libcurl's own timers (connect) run in perform
        while True:
            code, _ = self._multi.perform()
            if code != pycurl.E_CALL_MULTI_PERFORM:
                break
        _, done, failed = self._multi.info_read()
        if done:
            self._result = 0
        for _, code, _message in failed:
            self._result = code
        now = time.monotonic()
        if (self._header_lines, len(self._chunks)) != before or self._result is not None:
            self._heard = now
        elif now - self._heard > self._stall_timeout:
            self._result = pycurl.E_OPERATION_TIMEDOUT

    def start(self) -> None:
        """Send the GET and wait for Box's answer; raises BoxAPIError for an error answer,
        UntrustedServer or StreamBroken when there is none."""
        while not self._answered and self._result is None:
            self._step()
        if self._result:
            self._raise_transport("starting the zip content")
        log.debug("zip content answered %d", self._status)
        if self._status != 200:
            while self._result is None and sum(map(len, self._chunks)) < ERROR_BODY_BYTES:
                self._step()
            body = b"".join(self._chunks)[:ERROR_BODY_BYTES]
            self._chunks.clear()
            raise error_from_parts(self._status, self._headers, body)

    @property
    def file_name(self) -> str | None:
        return disposition_name(self._headers.get("content-disposition", ""))

    def __iter__(self) -> Iterator[bytes]:
        """Chunks as libcurl hands them over (16 KiB each); ``idle`` marks the last of a round
        that emptied the socket before filling the buffer."""
        while True:
            if self._chunks:
                chunks = self._chunks[:]
                self._chunks.clear()
                total = sum(map(len, chunks))
                last = len(chunks) - 1
                for index, chunk in enumerate(chunks):
                    self._idle = index == last and total < BUFFER_BYTES
                    yield chunk
            if self._result is not None:
                break
            self._step()
        if self._result:
            self._raise_transport("reading the zip content")

    def idle(self) -> bool:
        return self._idle

    def _raise_transport(self, operation: str) -> None:
        code = self._result or 0
        if code in _TLS_ERRORS:
            raise untrusted(operation)
        if code == pycurl.E_UNSUPPORTED_PROTOCOL:
            raise StreamBroken(
                f"{operation} failed: a redirect to a location that is not HTTPS (or not HTTP at all) "
                "was refused"
            )
        if code == pycurl.E_OPERATION_TIMEDOUT:
            raise StreamBroken(f"{operation} failed: no bytes arrived in time (stalled or unreachable)")
        raise StreamBroken(f"{operation} failed: libcurl error {code} ({curl_error_name(code)})")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._multi.remove_handle(self._easy)
        self._easy.close()
        self._multi.close()

    def __enter__(self) -> CurlContent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def curl_error_name(code: int) -> str:
    """libcurl's name of an error code (its message may carry a URL: never shown); of two
    names for one code, the shorter (``partial_file``, not ``ftp_partial_file``)."""
    names = [
        name for name in dir(pycurl)
        if name.startswith("E_") and "MULTI" not in name and getattr(pycurl, name) == code
    ]  # fmt: skip
    return min(names, key=len)[2:].lower() if names else "unknown"

"""BoxClient: the zip-download, status, folder-listing calls of the Box API.

Every HTTP error becomes a :class:`~boxzipfs.errors.BoxAPIError` carrying Box's
status, code, message and request_id; transport failures become
:class:`~boxzipfs.errors.NetworkError`. Calls are retried on 429 and 5xx
(Retry-After first, else jittered backoff) and once after a 401 with a refreshed
token. A download URL is requested at most once, ever: it is single-use on Box,
so any failure after the GET is sent is final for that zip download.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import truststore
from cachetools import TTLCache

from boxzipfs import metrics
from boxzipfs.client import redact
from boxzipfs.client.answers import error_from_parts, untrusted
from boxzipfs.client.auth import Auth
from boxzipfs.client.credentials import CredentialState
from boxzipfs.client.curl import CurlContent, never
from boxzipfs.client.pacing import ApiPacer
from boxzipfs.client.retry import NO_RETRY, RetryPolicy
from boxzipfs.client.wire import Wire
from boxzipfs.errors import (
    AuthError,
    BoxAPIError,
    DownloadUrlUsed,
    NetworkError,
    TooManyRequests,
    Unauthorized,
    UntrustedServer,
)
from boxzipfs.models import FolderEntry, ZipDownload, ZipRequest, ZipStatus
from boxzipfs.options import DEFAULT_API_URL

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 10.0
PAGE_LIMIT = 1000


def http_client(wire: Wire) -> httpx.Client:
    """The HTTP client of the mount's API calls and of every command: reads time out after the
    wire's stall timeout (a stalled stream is broken); TLS verifies against the system's trust
    store (truststore: corporate CAs installed the system way work) plus ``ca_file``, and cannot
    be switched off; the wire's proxy (or HTTPS_PROXY/NO_PROXY from the environment) carries
    every request. httpcore already sets TCP_NODELAY on its sockets; the 40 ms Nagle stalls once
    seen were the server's (see ``boxzipfs.server.run.bind``)."""
    context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if wire.ca_file:
        try:
            context.load_verify_locations(cafile=wire.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise UntrustedServer(f"cannot use the CA file {wire.ca_file}: {exc}") from None
    timeout = httpx.Timeout(wire.connect_timeout, read=wire.stall_timeout)
    return httpx.Client(
        timeout=timeout, max_redirects=wire.max_redirects, verify=context, proxy=wire.proxy or None
    )


def error_from_response(response: httpx.Response) -> BoxAPIError:
    """The BoxAPIError for an error answer, from its ClientError body when it has one."""
    return error_from_parts(response.status_code, dict(response.headers), response.content)


@contextmanager
def transport_errors(operation: str, broken: type[NetworkError] = NetworkError) -> Iterator[None]:
    """Convert httpx transport errors at the boundary; the message names no URL."""
    try:
        yield
    except httpx.TransportError as exc:
        if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
            raise untrusted(operation) from None
        raise broken(f"{operation} failed: {type(exc).__name__}") from None


class BoxClient:
    """Typed Box API calls over an injected ``httpx.Client``."""

    def __init__(
        self,
        http: httpx.Client,
        auth: Auth,
        api_url: str = DEFAULT_API_URL,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pacer: ApiPacer | None = None,
        as_user: str | None = None,
        credentials: CredentialState | None = None,
        wire: Wire | None = None,
    ) -> None:
        self.http = http
        self.wire = wire or Wire(stall_timeout=60.0)  # the content GET's (libcurl's) timeouts, trust, proxy
        self.credentials = credentials  # told each call's verdict on the credentials (readiness)
        self.as_user = as_user  # Box's As-User: every API call acts for this user
        self.auth = auth
        self.api_url = api_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.pacer = pacer  # every API call takes its place in the budget first
        # Digests of the download URLs requested: Box's stop working seconds after their
        # create, so a day of them is remembered (bounded, whatever the mount's uptime).
        self._used_urls: TTLCache[str, bool] = TTLCache(maxsize=1 << 17, ttl=86400)
        # Guards _used_urls.
        self._used_lock = threading.Lock()
        redact.install()

    def _send(
        self,
        method: str,
        url: str,
        operation: str,
        retry: RetryPolicy | None = None,
        retry_429: bool = True,
        endpoint: str = "other",
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with auth, one refresh after a 401, and retries on 429/5xx/connect errors;
        each attempt is an API call, paced under the budget and counted by ``endpoint``.

        ``retry_429`` False hands a 429 straight to the caller, which decides how to wait.
        """
        try:
            response = self._attempts(method, url, operation, retry, retry_429, endpoint, **kwargs)
        except (Unauthorized, AuthError) as exc:
            if self.credentials is not None:
                self.credentials.record(False, f"Box refused the credentials: {exc}")
            raise
        if self.credentials is not None:
            self.credentials.record(True)
        return response

    def _attempts(
        self,
        method: str,
        url: str,
        operation: str,
        retry: RetryPolicy | None,
        retry_429: bool,
        endpoint: str,
        **kwargs: Any,
    ) -> httpx.Response:
        policy = retry or self.retry
        attempt, refreshed = 0, False
        token = self.auth.token()
        while True:
            attempt += 1
            if self.pacer is not None:
                self.pacer.wait(endpoint)
            headers = {"Authorization": f"Bearer {token}"}
            if self.as_user:
                headers["As-User"] = self.as_user
            error: BoxAPIError | NetworkError
            try:
                with transport_errors(operation):
                    response = self.http.request(method, url, headers=headers, **kwargs)
            except NetworkError as exc:
                error = exc
            else:
                if response.status_code < 400:
                    return response
                error = error_from_response(response)
                if isinstance(error, Unauthorized) and not refreshed:
                    refreshed = True
                    token = self.auth.refresh(token)
                    attempt -= 1
                    continue
                throttled = isinstance(error, TooManyRequests)
                if not ((throttled and retry_429) or error.status >= 500):
                    raise error
            if policy.gives_up_after(attempt):
                raise error
            retry_after = error.retry_after if isinstance(error, BoxAPIError) else None
            delay = policy.delay(attempt, retry_after)
            log.debug("%s: %s; retry %d/%d in %.1fs", operation, error, attempt, policy.attempts - 1, delay)
            metrics.RETRIES.inc()
            if isinstance(error, TooManyRequests):
                metrics.BOX_429.inc()
            self._sleep(delay)

    def create_zip_download(self, request: ZipRequest) -> ZipDownload:
        """POST /2.0/zip_downloads; a 202 is final, never retried.

        A 429 is raised, not retried here: the download decides how long to wait
        (its deadline, its status), so the wait is never invisible.
        """
        started = time.monotonic()
        response = self._send(
            "POST",
            f"{self.api_url}/2.0/zip_downloads",
            "creating the zip download",
            retry_429=False,
            endpoint="zip_downloads",
            json=request.to_json(),
        )
        log.debug(
            "created a zip download of %d items in %.0f ms",
            len(request.items),
            (time.monotonic() - started) * 1000,
        )
        return ZipDownload.from_json(response.json())

    def users_me(self, fields: str = "id,name,login,enterprise,role", check: bool = False) -> dict[str, Any]:
        """GET /2.0/users/me: who the credentials (and As-User) are. ``check``: tried once,
        with a short timeout (a mount's start, ``whoami``)."""
        response = self._send(
            "GET",
            f"{self.api_url}/2.0/users/me",
            "checking the credentials" if check else "reading the user",
            retry=NO_RETRY if check else None,
            endpoint="users_me",
            params={"fields": fields},
            timeout=CHECK_TIMEOUT if check else httpx.USE_CLIENT_DEFAULT,
        )
        body = response.json()
        if not isinstance(body, dict) or "id" not in body:
            raise BoxAPIError(response.status_code, "bad_response", "users/me answered no user")
        return body

    def check_credentials(self) -> None:
        """One cheap authenticated call (``users_me``), tried once.

        Raises Unauthorized/Forbidden/AuthError when Box refuses the credentials,
        NetworkError or ServerError when Box cannot be reached or is failing.
        """
        self.users_me("id", check=True)

    def open_content(self, download: ZipDownload, stopped: Callable[[], bool] = never) -> CurlContent:
        """GET the download URL, once per zip download ever; raises on any error answer."""
        key = hashlib.sha256(download.download_url.encode()).hexdigest()
        with self._used_lock:
            if key in self._used_urls:
                raise DownloadUrlUsed("this zip download's URL was already requested; create a new one")
            self._used_urls[key] = True
        # libcurl receives the body (boxzipfs.client.curl); Box sends content from another
        # host: its redirects are followed (a bounded number), each a GET of a new location,
        # never the URL again.
        log.debug("requesting the zip content (its one-shot URL, used once)")
        content = CurlContent(download.download_url, self.wire, stopped)
        try:
            content.start()
        except BaseException:
            content.close()
            raise
        return content

    def get_status(self, download: ZipDownload) -> ZipStatus:
        """GET the status URL (404 until the download has started)."""
        response = self._send("GET", download.status_url, "reading the zip status", endpoint="zip_status")
        return ZipStatus.from_json(response.json())

    def list_folder(
        self, folder_id: str, fields: str = "name,size,modified_at,sha1"
    ) -> Iterator[FolderEntry]:
        """Every item of a folder (with ``fields``), following marker pagination."""
        url = f"{self.api_url}/2.0/folders/{folder_id}/items"
        params: dict[str, str | int] = {"usemarker": "true", "limit": PAGE_LIMIT, "fields": fields}
        while True:
            body = self._send("GET", url, "listing the folder", endpoint="folder_items", params=params).json()
            for entry in body.get("entries", []):
                yield FolderEntry.from_json(entry)
            marker = body.get("next_marker")
            if not marker:
                return
            params["marker"] = marker

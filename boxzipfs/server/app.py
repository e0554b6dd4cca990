"""The Starlette application: Box's routes over a LocalStore.

Errors are Box's ClientError bodies (or OAuth2Error for the token endpoint).
The content route needs no auth; its URL is the secret, so the server keeps no
access log.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import anyio.to_thread
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boxzipfs.errors import RequestInvalid, RequestTooLarge
from boxzipfs.models import ItemType, ZipDownload, parse_zip_request
from boxzipfs.server import consent, items
from boxzipfs.server.accounts import Accounts, OAuthError, User
from boxzipfs.server.archive import archive_chunks
from boxzipfs.server.config import ARCHIVE_FORMATS, Faults, ServerConfig
from boxzipfs.server.pipeline import file_chunks, in_thread
from boxzipfs.server.store import LocalStore
from boxzipfs.server.zips import ZipError, ZipJob, ZipRegistry

HELP_URL = "https://developer.box.com/guides/api-calls/permissions-and-errors/common-errors/"
MAX_PAGE = 1000
INT64_MAX = (1 << 63) - 1
SORTS = ("id", "name", "date", "size")  # accepted as the spec allows; listings keep Box's default order
DIRECTIONS = ("ASC", "DESC")


def _with_counts(chunks: Iterable[bytes], job: ZipJob) -> Iterator[tuple[bytes, int]]:
    """Each chunk with the number of files read when it was produced."""
    for chunk in chunks:
        with job.lock:
            done = job.downloaded
        yield chunk, done


class OneShotStream(StreamingResponse):
    """A content stream that releases its download slot however the response ends: a body
    never started (the client left first) runs no ``finally`` of its generator."""

    def __init__(self, body: AsyncIterator[bytes], release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        self._release = release

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()  # a no-op once the stream released it


class CutStream(Exception):
    """Raised inside a content stream to drop the connection on purpose (fault switch)."""


def content_disposition(name: str) -> str:
    """RFC 6266: an ASCII fallback in ``filename`` (quotes and backslashes escaped, anything
    else replaced) and the exact name in ``filename*`` (UTF-8, percent-encoded)."""
    fallback = "".join(c if 32 <= ord(c) < 127 else "_" for c in name)
    fallback = fallback.replace("\\", "\\\\").replace('"', '\\"')
    return f"attachment;filename=\"{fallback}\";filename*=UTF-8''{quote(name, safe='')}"


def client_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "type": "error",
        "status": status,
        "code": code,
        "message": message,
        "context_info": {"message": message},
        "help_url": HELP_URL,
        "request_id": secrets.token_hex(6),
    }
    return JSONResponse(body, status_code=status, headers=headers)


CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route, wrong method) as Box's ClientError."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})  # a 405 carries Allow (RFC 9110)
    return client_error(exc.status_code, CODES.get(exc.status_code, "bad_request"), str(exc.detail), headers)


class ErrorsKeepTheConnection:
    """An unexpected error before the answer started is a 500 ClientError on a connection that
    stays open for the next request, as Box's does (re-raised, the connection would close
    and a pooled client's next request would meet a reset). Once a body is under way the
    error ends the connection: that is how a client learns the body is incomplete."""

    def __init__(self, app: ASGIApp, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                # Box's Date (its clock, which a JWT client may need to follow); uvicorn's own is off
                date = formatdate(self.clock(), usegmt=True).encode()
                message["headers"] = [*message.get("headers", []), (b"date", date)]
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            if started:
                raise
            await client_error(500, "internal_server_error", "Internal Server Error")(scope, receive, send)


def _fields(request: Request) -> frozenset[str] | None:
    fields = request.query_params.get("fields")
    return None if fields is None else frozenset(f.strip() for f in fields.split(",") if f.strip())


def _unauthorized() -> JSONResponse:
    return client_error(401, "unauthorized", "Unauthorized", {"WWW-Authenticate": 'Bearer realm="Service"'})


class BoxApp:
    """Routes and their shared state; ``app`` is the ASGI application."""

    def __init__(self, store: LocalStore, accounts: Accounts, config: ServerConfig) -> None:
        self.store = store
        self.accounts = accounts
        self.config = config
        self.zips = ZipRegistry(store, config)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._limits = [
            parse(f"{n}/{per}")
            for n, per in ((config.api_rate_limit, "minute"), (config.api_burst_limit, "second"))
            if n
        ]
        self.app = Starlette(
            routes=[
                Route("/2.0/zip_downloads", self.create, methods=["POST"]),
                Route("/2.0/zip_downloads/{cid}/content", self.content, methods=["GET"]),
                Route("/2.0/zip_downloads/{sid}/status", self.status, methods=["GET"]),
                Route("/2.0/folders/{fid}/items", self.folder_items, methods=["GET"]),
                Route("/oauth2/token", self.token, methods=["POST"]),
                Route("/api/oauth2/authorize", self.authorize, methods=["GET", "POST"]),
                Route("/2.0/users/me", self.users_me, methods=["GET"]),
                Route("/2.0/folders/{fid}", self.folder, methods=["GET"]),
                Route("/2.0/files/{fid}", self.file, methods=["GET"]),
                Route("/_boxzipfs/faults", self.faults, methods=["GET", "PUT"]),
                Route("/_boxzipfs/archive-format", self.archive_format, methods=["GET", "PUT"]),
                Route("/_boxzipfs/raw/{fid}", self.raw, methods=["GET"]),
                Route("/_boxzipfs/stats", self.stats, methods=["GET"]),
            ],
            exception_handlers={HTTPException: _http_error},
            middleware=[Middleware(ErrorsKeepTheConnection, clock=accounts.clock)],
        )

    def _user(self, request: Request) -> User | None:
        return self.accounts.authenticate(request.headers.get("authorization"))

    def _over_limit(self, user: User) -> Response | None:
        """Box's answer to a user past the API rate limit (the content host has none)."""
        key = f"user:{user.id}"
        if all(self._limiter.hit(item, key) for item in self._limits):
            return None
        reset = min(self._limiter.get_window_stats(item, key).reset_time for item in self._limits)
        self.zips.count_429()
        wait = max(1, math.ceil(reset - time.time()))
        return client_error(
            429, "rate_limit_exceeded", "Request rate limit exceeded, please try again later",
            {"Retry-After": str(wait)},
        )  # fmt: skip

    def _api_user(self, request: Request) -> User | Response:
        """The caller of an API route (the user it acts for with ``As-User``), or the answer
        that stops it (401, 403, 429)."""
        user = self._user(request)
        if user is None:
            return _unauthorized()
        limited = self._over_limit(user)
        if limited is not None:
            return limited
        as_user = request.headers.get("as-user")
        if as_user is None:
            return user
        acting = self.accounts.acting(user, as_user)
        if acting is None:
            return client_error(
                403, "access_denied_insufficient_permissions",
                "The caller may not act as this user (only an admin or a service account of its enterprise)",
            )  # fmt: skip
        return acting

    async def create(self, request: Request) -> Response:
        user = self._api_user(request)
        if isinstance(user, Response):
            return user
        injected = self.config.faults.take_create_error()
        if injected is not None:
            headers = {} if injected.retry_after is None else {"Retry-After": f"{injected.retry_after:g}"}
            code = "too_many_requests" if injected.status == 429 else "internal_server_error"
            return client_error(injected.status, code, "Injected failure", headers)
        try:
            body = json.loads(await request.body())
            zip_request = parse_zip_request(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return client_error(400, "bad_request", "The request body is not valid JSON")
        except RequestTooLarge as exc:  # more items than an archive holds, as a folder's files would
            return client_error(400, "zip_download_file_count_exceeded_limit", str(exc))
        except RequestInvalid as exc:
            return client_error(400, "bad_request", str(exc))
        try:
            job = await anyio.to_thread.run_sync(self.zips.create, user, zip_request)
        except ZipError as exc:
            return client_error(exc.status, exc.code, exc.message)
        base = str(request.base_url).rstrip("/")
        answer = ZipDownload(
            download_url=f"{base}/2.0/zip_downloads/{job.content_id}/content",
            status_url=f"{base}/2.0/zip_downloads/{job.status_id}/status",
            expires_at=job.expires_wall.strftime("%Y-%m-%dT%H:%M:%SZ"),
            name_conflicts=tuple(tuple(pair) for pair in job.name_conflicts),
        )
        return JSONResponse(answer.to_json(), status_code=202)

    async def content(self, request: Request) -> Response:
        if request.method != "GET":  # Starlette adds HEAD to GET routes; Box's spec has GET only
            return client_error(405, "method_not_allowed", "Method Not Allowed", {"Allow": "GET"})
        target = self.config.content_url
        if self.config.redirect_content and target and str(request.base_url).rstrip("/") != target:
            # Box's content lives on another host: send the GET there, spending nothing here
            self.zips.redirected += 1
            return Response(status_code=302, headers={"Location": f"{target}{request.url.path}"})
        try:
            job = self.zips.claim(request.path_params["cid"])
        except ZipError as exc:
            return client_error(exc.status, exc.code, exc.message)
        try:
            return OneShotStream(
                self._stream(job),
                lambda: self.zips.finish(job, False),
                media_type="application/octet-stream",  # as Box's spec says
                headers={"Content-Disposition": content_disposition(job.file_name)},
            )
        except BaseException:  # the stream never ran: its slot must not stay taken
            self.zips.finish(job, False)
            raise

    async def _stream(self, job: ZipJob) -> AsyncIterator[bytes]:
        """The archive's chunks, with the fault switches applied; releases the slot at the end."""
        faults = self.config.faults
        user_id = job.user.id

        def readable(rel: str) -> bool:
            if any(fnmatch.fnmatchcase(rel, pattern) for pattern in faults.skip):
                return False  # the skip fault: as if Box could not read it
            return self.accounts.user(user_id).may_read(rel)

        chunks = archive_chunks(job, readable, self.config.chunk_size, self.config.archive_format)
        sent, started, stalled, finished = 0, time.monotonic(), False, False
        cut = faults.take_cut()
        # Files counted as they were read; a file is counted as downloaded once the chunk
        # after the one produced when it was read has gone out (the archive writer holds less
        # than a chunk), so a stream that breaks counts the files sent, never the files read.
        previous_done = delivered = 0
        try:
            async for chunk, done_then in in_thread(_with_counts(chunks, job)):
                delivered, previous_done = previous_done, done_then
                if cut is not None and sent + len(chunk) > cut:
                    if cut > sent:
                        yield chunk[: cut - sent]
                    raise CutStream("content cut by the cut_after fault switch")
                if faults.stall_after is not None and not stalled and sent + len(chunk) > faults.stall_after:
                    stalled = True
                    await asyncio.sleep(faults.stall_seconds)
                yield chunk
                sent += len(chunk)
                job.delivered = delivered
                if faults.throttle:
                    ahead = sent / faults.throttle - (time.monotonic() - started)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
            finished = True
        finally:
            if not finished:
                with job.lock:
                    job.downloaded = min(job.downloaded, job.delivered)
            self.zips.finish(job, finished)

    async def status(self, request: Request) -> Response:
        user = self._api_user(request)
        if isinstance(user, Response):
            return user
        try:
            status = self.zips.status(request.path_params["sid"], user)
        except ZipError as exc:
            return client_error(exc.status, exc.code, exc.message)
        return JSONResponse(status.to_json())

    async def folder_items(self, request: Request) -> Response:
        user = self._api_user(request)
        if isinstance(user, Response):
            return user
        if not request.path_params["fid"].isdigit():  # Box's spec: 405 for an ID that is no number
            return client_error(405, "method_not_allowed", "Method Not Allowed")
        folder = self.store.resolve("folder", request.path_params["fid"])
        if folder is None or not user.may_read(folder.rel):
            return client_error(404, "not_found", "Not Found")
        query = request.query_params
        usemarker = query.get("usemarker", "false").lower()  # the SDKs send True
        if (
            query.get("sort", "name") not in SORTS
            or query.get("direction", "ASC") not in DIRECTIONS
            or usemarker not in ("true", "false")
        ):
            return client_error(400, "bad_request", "Invalid sort, direction or usemarker")
        try:
            # Box's spec: a limit above the maximum is reduced to it, not refused
            limit = min(int(request.query_params.get("limit", 100)), MAX_PAGE)
            use_marker = usemarker == "true"
            if use_marker:
                marker = request.query_params.get("marker")
                offset = int(marker) if marker else 0
            else:
                offset = int(request.query_params.get("offset", 0))
            if limit < 1 or not 0 <= offset <= INT64_MAX:
                raise ValueError
        except ValueError:
            return client_error(400, "bad_request", "Invalid offset, limit or marker")
        children = [
            c for c in await anyio.to_thread.run_sync(self.store.children, folder) if user.may_read(c.rel)
        ]
        page = children[offset : offset + limit]
        fields = query.get("fields")
        wanted = frozenset(f.strip() for f in fields.split(",")) if fields is not None else None
        entries = await anyio.to_thread.run_sync(
            lambda: [self.store.entry(n, folder, wanted).to_json(wanted) for n in page]
        )
        body: dict[str, Any] = {
            "entries": entries,
            "limit": limit,
        }
        if use_marker:
            more = offset + limit < len(children)
            body["next_marker"] = str(offset + limit) if more else None
        else:
            body.update(
                total_count=len(children),
                offset=offset,
                order=[{"by": "type", "direction": "ASC"}, {"by": "name", "direction": "ASC"}],
            )
        return JSONResponse(body)

    async def token(self, request: Request) -> Response:
        fields = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        audience = str(request.url.replace(query=""))  # a JWT assertion's aud: this endpoint
        try:
            answer = self.accounts.token(fields, audience)
        except OAuthError as exc:
            return JSONResponse(
                {"error": exc.error, "error_description": exc.description}, status_code=exc.status
            )
        return JSONResponse(answer)

    async def authorize(self, request: Request) -> Response:
        """Box's authorize page: a consent form (GET), and its answer (POST) redirected to the
        app's registered redirect URI with ``code`` and ``state`` or ``error=access_denied``."""
        if request.method == "GET":
            given: dict[str, str] = dict(request.query_params)
        else:
            given = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        client_id, redirect_uri = given.get("client_id", ""), given.get("redirect_uri", "")
        if given.get("response_type", "code") != "code":
            return consent.error_page("unsupported_response_type", "Only response_type=code is supported")
        try:
            client, user = self.accounts.authorizing(client_id, redirect_uri)
        except OAuthError as exc:  # never redirected to an address the app did not register
            return consent.error_page(exc.error, exc.description)
        state = given.get("state", "")
        if request.method == "GET":
            return consent.page(client.client_id, user.login or user.name, redirect_uri, state)
        if given.get("consent") == "grant":
            answer = {"code": self.accounts.grant_code(client_id, redirect_uri)}
        else:
            answer = {"error": "access_denied", "error_description": "The user denied access to the app"}
        if state:
            answer["state"] = state
        separator = "&" if "?" in redirect_uri else "?"
        return Response(status_code=302, headers={"Location": redirect_uri + separator + urlencode(answer)})

    async def users_me(self, request: Request) -> Response:
        user = self._api_user(request)
        if isinstance(user, Response):
            return user
        return JSONResponse(items.user_json(user, _fields(request)))

    async def folder(self, request: Request) -> Response:
        return await self._item(request, "folder")

    async def file(self, request: Request) -> Response:
        return await self._item(request, "file")

    async def _item(self, request: Request, kind: ItemType) -> Response:
        """GET /2.0/folders/{id} or /2.0/files/{id}: Box's full item (or the fields asked for)."""
        user = self._api_user(request)
        if isinstance(user, Response):
            return user
        if not request.path_params["fid"].isdigit():
            return client_error(405, "method_not_allowed", "Method Not Allowed")
        node = self.store.resolve(kind, request.path_params["fid"])
        if node is None or not user.may_read(node.rel):
            return client_error(404, "not_found", "Not Found")
        body = await anyio.to_thread.run_sync(items.item_json, self.store, node, user, _fields(request))
        return JSONResponse(body)

    async def faults(self, request: Request) -> Response:
        """Read or replace the fault switches (any valid token may)."""
        if self._user(request) is None:
            return _unauthorized()
        if request.method == "PUT":
            try:
                self.config.faults = Faults.from_json(json.loads(await request.body()))
            except (ValueError, TypeError, KeyError) as exc:
                return client_error(400, "bad_request", f"Invalid faults: {exc}")
        return JSONResponse(self.config.faults.to_json())

    async def archive_format(self, request: Request) -> Response:
        """Read or switch the format of the archives built from now on (any valid token may)."""
        if self._user(request) is None:
            return _unauthorized()
        if request.method == "PUT":
            try:
                chosen = json.loads(await request.body())["format"]
            except (ValueError, TypeError, KeyError):
                chosen = None
            if chosen not in ARCHIVE_FORMATS:
                return client_error(400, "bad_request", f"format must be one of {', '.join(ARCHIVE_FORMATS)}")
            self.config.archive_format = chosen
        return JSONResponse({"format": self.config.archive_format})

    async def raw(self, request: Request) -> Response:
        """A file's bytes as-is, through the same streaming path as archives (for benchmarks)."""
        if self._user(request) is None:
            return _unauthorized()
        node = self.store.resolve("file", request.path_params["fid"])
        if node is None:
            return client_error(404, "not_found", "Not Found")
        return StreamingResponse(
            in_thread(file_chunks(node.path, self.config.chunk_size)),
            media_type="application/octet-stream",
        )

    async def stats(self, request: Request) -> Response:
        """Counts of creates and started downloads (tests check sharing with them)."""
        if self._user(request) is None:
            return _unauthorized()
        return JSONResponse(self.zips.stats())

"""A fault proxy between the mount and the local server, seeded so any run can be replayed.

Per request, with probability ``rate`` (or always, for the kinds forced on):
- create (``POST /2.0/zip_downloads``): a 503, or a 429 with or without Retry-After;
- content GET: a 503 or 429 before any byte, a cut at a random offset, a stall;
- status GET: ``in_progress`` for ``status_lag`` seconds after the stream ended, as Box does.
Create answers are rewritten so their URLs lead back through the proxy. It counts what
the tests check: content GETs per download URL (never two), 429s sent with their
Retry-After, and when the next create came after each.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from boxzipfs.server.run import bind, url_of


class Cut(Exception):
    """Raised inside a streaming body: the connection drops mid-archive."""


@dataclass
class Plan:
    seed: int = 0
    rate: float = 0.0  # share of creates and content GETs that fail, at random
    kinds: tuple[str, ...] = (
        "create_503",
        "create_429",
        "create_429_after",
        "get_429",
        "get_503",
        "cut",
        "stall",
    )
    cut_every_stream: bool = False  # every content GET is cut (R1)
    max_offset: int = 2_000_000  # cuts and stalls happen at a random offset below this
    stall_seconds: float = 3.0
    retry_after: float = 1.0
    status_lag: float = 0.0


@dataclass
class Tally:
    content_gets: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    creates: int = 0
    create_bodies: list[tuple[float, bytes]] = field(default_factory=list)  # (when, body) of every create
    retry_after_bodies: list[tuple[float, float, bytes]] = field(
        default_factory=list
    )  # 429s with Retry-After


class FaultProxy:
    def __init__(self, upstream: str, plan: Plan) -> None:
        self.upstream = upstream
        self.plan = plan
        self.tally = Tally()
        self._random = random.Random(plan.seed)
        self._lock = threading.Lock()
        self._ended: dict[str, float] = {}  # status path -> when its content stream ended
        self._sock = bind("127.0.0.1", 0)
        self.url = url_of(self._sock)
        app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST", "PUT", "DELETE"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="critical", access_log=False, lifespan="off")  # cuts are intended
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fault proxy did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def _roll(self, *candidates: str) -> str | None:
        with self._lock:
            kinds = [k for k in candidates if k in self.plan.kinds]
            if not kinds or self._random.random() >= self.plan.rate:
                return None
            return self._random.choice(kinds)

    @staticmethod
    def _error(status: int, retry_after: float | None = None) -> Response:
        code = "too_many_requests" if status == 429 else "unavailable"
        body = {"type": "error", "status": status, "code": code, "message": "injected by the fault proxy",
                "request_id": "chaos"}  # fmt: skip
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return JSONResponse(body, status_code=status, headers=headers)

    async def handle(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        body = await request.body()
        if request.method == "POST" and path == "/2.0/zip_downloads":
            return await self._create(request, body)
        if path.endswith("/content"):
            return await self._content(request, path, body)
        if path.endswith("/status") and self.plan.status_lag:
            return await self._status(request, path)
        return await self._forward(request, path, body)

    async def _forward(self, request: Request, path: str, body: bytes) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.request(
                request.method,
                self.upstream + path,
                content=body,
                headers=headers,
                params=request.query_params,
            )
        kept = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "retry-after")}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    async def _create(self, request: Request, body: bytes) -> Response:
        now = time.monotonic()
        with self._lock:
            self.tally.create_bodies.append((now, body))
        fault = self._roll("create_503", "create_429", "create_429_after")
        if fault is not None:
            with self._lock:
                self.tally.faults[fault] += 1
                if fault == "create_429_after":
                    self.tally.retry_after_bodies.append((now, self.plan.retry_after, body))
            if fault == "create_503":
                return self._error(503)
            return self._error(429, self.plan.retry_after if fault == "create_429_after" else None)
        answer = await self._forward(request, "/2.0/zip_downloads", body)
        if answer.status_code == 202:
            with self._lock:
                self.tally.creates += 1
            text = answer.body.decode().replace(self.upstream, self.url)
            return Response(text, status_code=202, headers={"content-type": "application/json"})
        return answer

    async def _content(self, request: Request, path: str, body: bytes) -> Response:
        with self._lock:
            self.tally.content_gets[path] += 1
        fault = self._roll("get_429", "get_503", "cut", "stall")
        if self.plan.cut_every_stream:
            fault = "cut"
        if fault in ("get_429", "get_503"):
            with self._lock:
                self.tally.faults[fault] += 1
            return self._error(429 if fault == "get_429" else 503)
        client = httpx.AsyncClient(timeout=120)
        upstream = await client.send(client.build_request("GET", self.upstream + path), stream=True)
        if upstream.status_code != 200:
            content = await upstream.aread()
            await upstream.aclose()
            await client.aclose()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() in ("content-type", "retry-after")}
            return Response(content, status_code=upstream.status_code, headers=kept)
        with self._lock:
            offset = self._random.randint(0, self.plan.max_offset)
        if fault:
            with self._lock:
                self.tally.faults[fault] += 1

        async def chunks() -> AsyncIterator[bytes]:
            sent = 0
            try:
                async for chunk in upstream.aiter_raw():
                    if fault == "cut" and sent + len(chunk) > offset:
                        if offset > sent:
                            yield chunk[: offset - sent]
                        raise Cut("cut by the fault proxy")
                    if fault == "stall" and sent + len(chunk) > offset:
                        await asyncio.sleep(self.plan.stall_seconds)
                    yield chunk
                    sent += len(chunk)
            finally:
                await upstream.aclose()
                await client.aclose()

        headers = {
            k: v for k, v in upstream.headers.items() if k.lower() in ("content-type", "content-disposition")
        }
        return StreamingResponse(chunks(), status_code=200, headers=headers)

    async def _status(self, request: Request, path: str) -> Response:
        answer = await self._forward(request, path, b"")
        if answer.status_code != 200:
            return answer
        doc = json.loads(answer.body)
        if doc.get("state") in ("succeeded", "failed"):
            with self._lock:
                ended = self._ended.setdefault(path, time.monotonic())
            if time.monotonic() - ended < self.plan.status_lag:
                doc["state"] = "in_progress"
                with self._lock:
                    self.tally.faults["status_lag"] += 1
        return JSONResponse(doc)

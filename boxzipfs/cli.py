"""The ``boxzipfs`` command line: argument parsing and dispatch only."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from boxzipfs.server.config import Faults, InjectedError, ServerConfig


def _size(text: str) -> int:
    """Parse ``123``, ``64K``, ``16M``, ``2G``."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="serve a local folder as a Box-compatible API")
    p.add_argument("--root", type=Path, required=True, help="folder to serve as the Box account")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    p.add_argument(
        "--token",
        action="append",
        default=[],
        help="a valid bearer token for the default user (repeatable; prefer "
        "BOXZIPFS_SERVE_TOKENS, which keeps tokens out of process arguments)",
    )
    p.add_argument("--users", type=Path, help="JSON file of users, tokens, deny rules and OAuth clients")
    p.add_argument("--max-files", type=int, default=ServerConfig.max_files)
    p.add_argument("--max-bytes", type=_size, default=ServerConfig.max_bytes)
    p.add_argument("--user-concurrency", type=int, default=ServerConfig.user_concurrency)
    p.add_argument("--enterprise-concurrency", type=int, default=ServerConfig.enterprise_concurrency)
    p.add_argument(
        "--url-ttl",
        type=float,
        default=ServerConfig.url_ttl,
        help="seconds a download URL stays valid unstarted",
    )
    p.add_argument("--status-ttl", type=float, default=ServerConfig.status_ttl)
    p.add_argument(
        "--token-ttl", type=float, default=ServerConfig.token_ttl, help="lifetime of issued access tokens"
    )
    p.add_argument("--chunk-size", type=_size, default=ServerConfig.chunk_size)
    p.add_argument("--cut-after", type=_size, help="fault: drop every content stream after N bytes")
    p.add_argument("--throttle", type=_size, help="fault: limit content streams to N bytes/s")
    p.add_argument("--stall-after", type=_size, help="fault: pause content streams after N bytes")
    p.add_argument("--stall-seconds", type=float, default=0.0)
    p.add_argument(
        "--fail-create",
        action="append",
        default=[],
        type=InjectedError.parse,
        metavar="STATUS[:RETRY_AFTER][xCOUNT]",
        help="fault: answer the next creates with this error (repeatable)",
    )
    p.add_argument("-v", "--verbose", action="store_true")


def _run_serve(args: argparse.Namespace) -> int:
    from boxzipfs.server.run import build_app, serve

    env_tokens = [t for t in os.environ.get("BOXZIPFS_SERVE_TOKENS", "").split(",") if t]
    env_refresh = [t for t in os.environ.get("BOXZIPFS_SERVE_REFRESH_TOKENS", "").split(",") if t]
    faults = Faults(
        cut_after=args.cut_after,
        throttle=args.throttle,
        stall_after=args.stall_after,
        stall_seconds=args.stall_seconds,
        create_errors=list(args.fail_create),
    )
    config = ServerConfig(
        max_files=args.max_files,
        max_bytes=args.max_bytes,
        user_concurrency=args.user_concurrency,
        enterprise_concurrency=args.enterprise_concurrency,
        url_ttl=args.url_ttl,
        status_ttl=args.status_ttl,
        token_ttl=args.token_ttl,
        chunk_size=args.chunk_size,
        faults=faults,
    )
    box = build_app(args.root, args.token + env_tokens, config, args.users, env_refresh)
    serve(box, args.host, args.port, "info" if args.verbose else "warning")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="boxzipfs", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _run_serve(args)
    except KeyboardInterrupt:
        return 130
    print(f"boxzipfs: unknown command {args.command}", file=sys.stderr)
    return 2

"""The ``boxzipfs`` command line: argument parsing and dispatch only."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from boxzipfs.errors import BoxZipError
from boxzipfs.mount import (
    MountOptions,
    default_state_dir,
    load_requests_file,
    parse_fuse_options,
    parse_request_option,
    run_foreground,
    spawn_background,
    unmount,
)
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
    _add_verbosity(p)


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


def _add_mount(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("mount", help="mount Box zip downloads as files")
    p.add_argument("mountpoint", type=Path)
    p.add_argument("--api-url", default="https://api.box.com", help="Box API root (default %(default)s)")
    p.add_argument("--local", type=Path, metavar="DIR", help="serve DIR on an embedded local server instead")
    p.add_argument("--foreground", "-f", action="store_true", help="stay in the foreground")
    p.add_argument("-o", dest="fuse_options", action="append", default=[], metavar="OPTION,...")
    p.add_argument("--request", action="append", default=[], metavar="NAME=folder:ID,file:ID")
    p.add_argument("--requests-file", type=Path, help="JSON object of NAME: request.json body")
    p.add_argument("--state-dir", type=Path, help="where request definitions and logs live")
    p.add_argument("--cache-dir", type=Path, help="where archives are spooled")
    p.add_argument(
        "--cache-size", type=_size, default=MountOptions.cache_size, help="disk kept for completed archives"
    )
    p.add_argument(
        "--buffer-size", type=_size, default=MountOptions.buffer_size, help="memory buffer per download"
    )
    p.add_argument("--max-downloads", type=int, default=MountOptions.max_downloads)
    p.add_argument("--reuse-seconds", type=float, default=MountOptions.reuse_seconds)
    p.add_argument(
        "--queue-deadline",
        type=float,
        default=MountOptions.queue_deadline,
        help="seconds to keep retrying 429s",
    )
    p.add_argument(
        "--stall-timeout",
        type=float,
        default=MountOptions.stall_timeout,
        help="seconds without bytes before a stream counts as broken",
    )
    p.add_argument(
        "--wait-for-size",
        action="store_true",
        help="stat/open of request.zip wait for the whole archive, for seeking tools "
        "(default for requests whose request.json does not say)",
    )
    _add_verbosity(p)


def _add_verbosity(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q", "--quiet", action="count", default=0)


def _setup_logging(args: argparse.Namespace) -> None:
    """-v/-q move from the default: INFO for mounts (one line per download), WARNING otherwise."""
    default = logging.INFO if args.command == "mount" else logging.WARNING
    level = default - 10 * (getattr(args, "verbose", 0) - getattr(args, "quiet", 0))
    logging.basicConfig(
        level=max(logging.DEBUG, min(logging.CRITICAL, level)),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _run_mount(args: argparse.Namespace, argv: list[str]) -> int:
    requests = dict(parse_request_option(r) for r in args.request)
    if args.requests_file:
        requests.update(load_requests_file(args.requests_file))
    options = MountOptions(
        mountpoint=args.mountpoint,
        api_url=args.api_url,
        local_root=args.local,
        state_dir=args.state_dir,
        cache_dir=args.cache_dir,
        cache_size=args.cache_size,
        buffer_size=args.buffer_size,
        max_downloads=args.max_downloads,
        reuse_seconds=args.reuse_seconds,
        queue_deadline=args.queue_deadline,
        stall_timeout=args.stall_timeout,
        wait_for_size=args.wait_for_size,
        requests=requests,
        fuse_options=parse_fuse_options(args.fuse_options),
    )
    if not args.mountpoint.is_dir():
        print(f"boxzipfs: {args.mountpoint} is not a directory", file=sys.stderr)
        return 2
    if args.local is not None and not args.local.is_dir():
        print(f"boxzipfs: {args.local} is not a directory", file=sys.stderr)
        return 2
    if args.foreground:
        return run_foreground(options)
    state = args.state_dir or default_state_dir(args.mountpoint)
    return spawn_background(argv, args.mountpoint.resolve(), state / "boxzipfs.log")


def _add_unmount(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("unmount", help="unmount a boxzipfs mount")
    p.add_argument("mountpoint", type=Path)
    p.add_argument("--lazy", action="store_true", help="detach now even if files are open")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="boxzipfs", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    _add_mount(sub)
    _add_unmount(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    _setup_logging(args)
    try:
        if args.command == "serve":
            return _run_serve(args)
        if args.command == "mount":
            return _run_mount(args, argv)
        if args.command == "unmount":
            return unmount(args.mountpoint, args.lazy)
    except KeyboardInterrupt:
        return 130
    except BoxZipError as exc:
        print(f"boxzipfs: {exc}", file=sys.stderr)
        return 1
    print(f"boxzipfs: unknown command {args.command}", file=sys.stderr)
    return 2

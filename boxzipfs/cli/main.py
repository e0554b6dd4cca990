"""The ``boxzipfs`` command line: argument parsing and dispatch only.

Settings come from defaults, then the config file, then BOX_* variables (auth),
then flags. ``boxzipfs SOURCE MOUNTPOINT -o OPTIONS`` (no command) is the form
mount(8) uses for ``fuse.boxzipfs`` entries in /etc/fstab; see :mod:`boxzipfs.cli.fstab`.
Every failure reaches the user as one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boxzipfs.atomicfile import atomic_write
from boxzipfs.config import Settings, load_settings, request_from_items, url_has_password
from boxzipfs.errors import BoxZipError
from boxzipfs.options import BY_NAME, Option, flag_options, parse_size
from boxzipfs.server.config import ARCHIVE_FORMATS, Faults, InjectedError, ServerConfig

COMMANDS = ("serve", "mount", "unmount", "ls", "request", "status", "config", "login", "whoami")

DESCRIPTION = """\
Box content as ordinary local files. Each directory of a boxzipfs mount is one
Box zip download: write its request.json (which Box files and folders), then
read its request.zip with any tool; status.json beside it shows progress and
errors. `boxzipfs mount MOUNTPOINT --local DIR` serves a local folder as a Box
account, so you can try it without one."""

EPILOG = """\
examples:
  boxzipfs mount /mnt/box --local ~/box-sample       # no Box account needed
  boxzipfs login                                     # connect a Box account (browser)
  boxzipfs whoami --check                            # prove a mount would work
  boxzipfs ls --local ~/box-sample                   # folder and file IDs
  boxzipfs request add /mnt/box reports folder:123   # define a request
  cp /mnt/box/reports/request.zip /backup/           # stream the archive
  boxzipfs status /mnt/box                           # live progress
  boxzipfs unmount /mnt/box

Run `boxzipfs COMMAND --help` for a command's options. Settings also come from
$XDG_CONFIG_HOME/boxzipfs/config.toml and BOX_* variables (see the README)."""


class UsageError(BoxZipError):
    """The command line asks for something that cannot work; exit status 2."""


def _common(top: bool = False) -> argparse.ArgumentParser:
    """-v/-q/--config, accepted before the command and after it (the counts add up)."""
    prefix = "top_" if top else ""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        dest=f"{prefix}config",
        type=Path,
        help="config file (default $XDG_CONFIG_HOME/boxzipfs/config.toml)",
    )
    common.add_argument(
        "-v", "--verbose", dest=f"{prefix}verbose", action="count", default=0, help="more log output"
    )
    common.add_argument(
        "-q", "--quiet", dest=f"{prefix}quiet", action="count", default=0, help="less log output"
    )
    return common


if TYPE_CHECKING:
    from boxzipfs.cli.whoami import Report
    from boxzipfs.client.box import BoxClient

    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def _add_serve(sub: Sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", parents=[common], help="serve a local folder as a Box-compatible API")
    p.add_argument("--root", type=Path, required=True, help="folder to serve as the Box account")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    p.add_argument(
        "--token",
        action="append",
        default=[],
        help="a valid bearer token for the default user (repeatable; BOXZIPFS_SERVE_TOKENS, "
        "comma-separated, keeps tokens out of process arguments)",
    )
    p.add_argument("--users", type=Path, help="JSON file of users, tokens, deny rules and OAuth clients")
    p.add_argument("--max-files", type=int, default=ServerConfig.max_files)
    p.add_argument("--max-bytes", type=parse_size, default=ServerConfig.max_bytes)
    p.add_argument("--user-concurrency", type=int, default=ServerConfig.user_concurrency)
    p.add_argument("--enterprise-concurrency", type=int, default=ServerConfig.enterprise_concurrency)
    p.add_argument(
        "--url-ttl",
        type=float,
        default=ServerConfig.url_ttl,
        help="seconds a download URL stays valid unstarted",
    )
    p.add_argument(
        "--status-ttl",
        type=float,
        default=ServerConfig.status_ttl,
        help="seconds status stays readable after the start",
    )
    p.add_argument(
        "--token-ttl", type=float, default=ServerConfig.token_ttl, help="lifetime of issued access tokens"
    )
    p.add_argument("--chunk-size", type=parse_size, default=ServerConfig.chunk_size)
    p.add_argument(
        "--archive-format",
        choices=ARCHIVE_FORMATS,
        default=ServerConfig.archive_format,
        help="stored entries with sizes up front (default), or deflated with data descriptors; "
        "PUT /_boxzipfs/archive-format switches it at run time",
    )
    tls = p.add_argument_group("HTTPS")
    tls.add_argument("--tls-cert", type=Path, metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    tls.add_argument("--tls-key", type=Path, metavar="FILE", help="... and this private key (PEM)")
    tls.add_argument(
        "--tls-self-signed",
        type=Path,
        metavar="DIR",
        help="make a throw-away CA and certificate in DIR (ca.pem, cert.pem, key.pem) and serve "
        "HTTPS with them; clients trust DIR/ca.pem (boxzipfs --ca-file)",
    )
    p.add_argument(
        "--api-rate-limit",
        type=int,
        metavar="N",
        help="API calls per user per minute; past it 429 rate_limit_exceeded with retry-after (as Box's "
        "about 1,000); content GETs are not counted",
    )
    p.add_argument("--api-burst-limit", type=int, metavar="N", help="... and per second")
    p.add_argument(
        "--clock-offset",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="this server's clock runs this far ahead of the machine's, for its JWT checks and "
        "Date headers (tests a client's clock skew)",
    )
    p.add_argument(
        "--redirect-content",
        action="store_true",
        help="content GETs answer 302 to the same content on a second listener (as Box's API host "
        "sends them to dl.boxcloud.com)",
    )
    p.add_argument("--cut-after", type=parse_size, help="fault: drop every content stream after N bytes")
    p.add_argument("--throttle", type=parse_size, help="fault: limit content streams to N bytes/s")
    p.add_argument("--stall-after", type=parse_size, help="fault: pause content streams after N bytes")
    p.add_argument("--stall-seconds", type=float, default=0.0)
    p.add_argument(
        "--fail-create",
        action="append",
        default=[],
        type=InjectedError.parse,
        metavar="STATUS[:RETRY_AFTER][xCOUNT]",
        help="fault: answer the next creates with this error (repeatable)",
    )


def _run_serve(args: argparse.Namespace) -> int:
    from boxzipfs.server.run import build_app, serve

    if not args.root.is_dir():
        raise UsageError(f"--root {args.root} is not a directory")
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
        archive_format=args.archive_format,
        redirect_content=args.redirect_content,
        api_rate_limit=args.api_rate_limit,
        api_burst_limit=args.api_burst_limit,
        clock_offset=args.clock_offset,
        faults=faults,
    )
    box = build_app(args.root, args.token + env_tokens, config, args.users, env_refresh)
    serve(box, args.host, args.port, "info" if args.verbose else "warning", _serve_tls(args))
    return 0


def _serve_tls(args: argparse.Namespace) -> tuple[Path, Path] | None:
    """The certificate and key to serve HTTPS with, if asked for."""
    from boxzipfs.server.tls import self_signed

    if args.tls_self_signed:
        if args.tls_cert or args.tls_key:
            raise UsageError("--tls-self-signed makes its own certificate: give it alone")
        ca, cert, key = self_signed(args.tls_self_signed, args.host)
        print(f"boxzipfs serve: HTTPS with a self-signed CA; clients trust {ca}", file=sys.stderr)
        return cert, key
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    return (args.tls_cert, args.tls_key) if args.tls_cert else None


def _add_api(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-url", help="Box API root, as Box's SDKs take it (default https://api.box.com)")
    p.add_argument("--ca-file", metavar="FILE", help=BY_NAME["ca_file"].help)
    p.add_argument("--proxy", metavar="URL", help=BY_NAME["proxy"].help)
    p.add_argument("--local", type=Path, metavar="DIR", help="use an embedded local server over DIR instead")
    p.add_argument("--as-user", metavar="USER_ID", help=BY_NAME["as_user"].help)


def _add_mount(sub: Sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("mount", parents=[common], help="mount Box zip downloads as files")
    p.add_argument("mountpoint", type=Path)
    p.add_argument("--local", type=Path, metavar="DIR", help=BY_NAME["local"].help)
    p.add_argument(
        "-o",
        dest="fuse_options",
        action="append",
        default=[],
        metavar="OPTION,...",
        help="FUSE options, e.g. allow_other",
    )
    p.add_argument(
        "--request",
        action="append",
        default=[],
        metavar="NAME=folder:ID,file:ID",
        help="declare a request (repeatable)",
    )
    add_option_flags(p)


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per option of the table that has one (their values stay None unless given)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for option in flag_options():
        target: argparse._ArgumentGroup | argparse.ArgumentParser = parser
        if option.group:
            target = groups.get(option.group) or groups.setdefault(
                option.group, parser.add_argument_group(GROUPS[option.group])
            )
        shown = "" if option.default in (None, False) else f" (default {_shown_default(option)})"
        assert option.flag is not None
        names = [option.flag, *(["-f"] if option.name == "foreground" else [])]
        if option.switch:
            target.add_argument(
                *names, dest=option.name, action="store_true", default=None, help=option.help + shown
            )
        else:
            target.add_argument(
                *names,
                dest=option.name,
                type=_reader(option),
                metavar=option.metavar,
                help=option.help + shown,
            )


def _reader(option: Option) -> Callable[[str], Any]:
    """argparse's ``type`` for an option: its parser, errors naming the flag."""

    def read(text: str) -> Any:
        try:
            return option.parse(text)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return read


GROUPS = {"fleet": "fleet (several hosts, one Box account)", "browse": "browse/ (Box files by name)"}


def _shown_default(option: Option) -> str:
    value = option.default
    if option.parse is parse_size:
        for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
            if value % (1 << shift) == 0:
                return f"{value >> shift}{unit}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _settings(args: argparse.Namespace) -> Settings:
    """The config file and environment, then every option flag given on the command line."""
    settings = load_settings(args.config or args.top_config)
    redis_url = getattr(args, "redis_url", None)
    if redis_url and url_has_password(redis_url):
        raise UsageError(
            "--redis: a password on the command line shows in ps; put the URL in the config file "
            "([mount] redis_url) or in BOXZIPFS_REDIS_URL"
        )
    proxy = getattr(args, "proxy", None)
    if proxy and url_has_password(proxy):
        raise UsageError(
            "--proxy: a password on the command line shows in ps; put the URL in the config file "
            "(proxy) or in HTTPS_PROXY"
        )
    return settings.override(**{o.name: getattr(args, o.name, None) for o in flag_options()})


def _run_mount(args: argparse.Namespace, argv: list[str]) -> int:
    from boxzipfs.cli.arguments import load_requests_file, parse_fuse_options, parse_request_option
    from boxzipfs.mount.daemon import run_foreground, spawn_background
    from boxzipfs.mount.mountpoint import prepare_mountpoint
    from boxzipfs.mount.paths import state_dir_for

    settings = _settings(args)
    _use_log_format(settings.log_format)
    requests = dict(settings.requests)
    requests.update(parse_request_option(r) for r in args.request)
    if settings.requests_file:
        requests.update(load_requests_file(Path(settings.requests_file).expanduser()))
    settings = settings.override(requests=requests)
    local = args.local or (Path(settings.local).expanduser() if settings.local else None)
    if local is not None and not local.is_dir():
        raise UsageError(f"--local {local} is not a directory")
    notice = prepare_mountpoint(args.mountpoint)
    if notice:
        print(f"boxzipfs: {notice}", file=sys.stderr)
    mountpoint = args.mountpoint.resolve()
    if settings.foreground:
        return run_foreground(settings, mountpoint, local, parse_fuse_options(args.fuse_options))
    state = state_dir_for(settings.state_dir, mountpoint)
    return spawn_background(argv, mountpoint, state / "boxzipfs.log")


def _add_unmount(sub: Sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("unmount", parents=[common], help="unmount a boxzipfs mount")
    p.add_argument("mountpoint", type=Path)
    p.add_argument("--lazy", action="store_true", help="detach now even if files are open")


def _add_ls(sub: Sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("ls", parents=[common], help="list a Box folder's items with their IDs")
    p.add_argument("folder_id", nargs="?", default="0", help="folder ID (default 0, the root)")
    _add_api(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")


@contextlib.contextmanager
def _api_client(args: argparse.Namespace, settings: Settings) -> Iterator[tuple[BoxClient, Report]]:
    """A Box client with the mount's own credentials and options (or the embedded server of
    --local), and a report saying which credentials they are."""
    from boxzipfs.cli.whoami import Report
    from boxzipfs.client.auth import StaticTokenAuth, describe_auth
    from boxzipfs.client.box import BoxClient, http_client
    from boxzipfs.client.credentials import open_auth
    from boxzipfs.server.child import start_local_server

    local = getattr(args, "local", None)
    if local is not None and not local.is_dir():
        raise UsageError(f"--local {local} is not a directory")
    with contextlib.ExitStack() as stack:
        http = stack.enter_context(http_client(settings.wire(30.0)))
        if local is not None:
            server = stack.enter_context(start_local_server(local))
            report = Report("access token", f"the embedded server over {local}", server.url)
            yield BoxClient(http, StaticTokenAuth(server.token), server.url, wire=settings.wire(30.0)), report
            return
        env = settings.auth_env(dict(os.environ))
        method, source = describe_auth(env)
        report = Report(method, source, settings.api_url, settings.as_user)
        try:
            auth = open_auth(http, settings.api_url, env, stack, None, settings.redis_url, settings.fleet)
        except BoxZipError as exc:
            report.failed_step = "open the credentials"
            raise _Failed(report, exc) from None
        client = BoxClient(http, auth, settings.api_url, as_user=settings.as_user, wire=settings.wire(30.0))
        yield client, report


class _Failed(BoxZipError):
    """Credentials that could not even be opened (whoami reports them as a finding)."""

    def __init__(self, report: Report, cause: BoxZipError) -> None:
        super().__init__(str(cause))
        self.report = report
        self.cause = cause


def _run_ls(args: argparse.Namespace) -> int:
    from boxzipfs.cli.ls import format_entries

    settings = _settings(args)
    try:
        with _api_client(args, settings) as (client, _):
            print(format_entries(client.list_folder(args.folder_id), args.json))
    except _Failed as exc:
        raise exc.cause from None
    return 0


def _add_whoami(sub: Sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "whoami", parents=[common], help="who the credentials are; --check proves a mount would work"
    )
    _add_api(p)
    p.add_argument(
        "--check", action="store_true", help="also list the root folder and create and read a zip of one file"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _run_whoami(args: argparse.Namespace) -> int:
    from boxzipfs.cli.whoami import diagnose, whoami

    settings = _settings(args)
    try:
        with _api_client(args, settings) as (client, report):
            whoami(client, report, args.check)
    except _Failed as exc:
        report = exc.report
        report.cause, report.fix = diagnose(exc.cause, report)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _add_login(sub: Sub, common: argparse.ArgumentParser) -> None:
    from boxzipfs.client.login import DEFAULT_REDIRECT_PORT

    p = sub.add_parser(
        "login",
        parents=[common],
        help="connect a Box account: OAuth 2.0 in a browser; stores the refresh token and points the "
        "config file at it",
    )
    p.add_argument("--api-url", help="Box API root (its authorize page included), e.g. an embedded server")
    p.add_argument("--ca-file", metavar="FILE", help=BY_NAME["ca_file"].help)
    p.add_argument("--proxy", metavar="URL", help=BY_NAME["proxy"].help)
    p.add_argument(
        "--no-browser",
        action="store_true",
        help="print the URL and read the redirect URL (or the code) pasted on standard input",
    )
    p.add_argument(
        "--redis", dest="redis_url", metavar="URL", help="seed this fleet's shared refresh-token chain"
    )
    p.add_argument("--fleet", help=BY_NAME["fleet"].help)
    p.add_argument(
        "--redirect-port",
        type=int,
        default=DEFAULT_REDIRECT_PORT,
        metavar="N",
        help=f"the loopback port of the redirect URI http://127.0.0.1:N/callback, which the app must "
        f"register exactly (default {DEFAULT_REDIRECT_PORT})",
    )


def _run_login(args: argparse.Namespace) -> int:
    from boxzipfs.cli.login import client_secret, default_store, point_config, seed_fleet, store_refresh_token
    from boxzipfs.client.auth import StaticTokenAuth
    from boxzipfs.client.box import BoxClient, http_client
    from boxzipfs.client.credentials import fleet_name
    from boxzipfs.client.login import login
    from boxzipfs.config import default_config_path

    settings = _settings(args)
    environ = dict(os.environ)
    env = settings.auth_env(environ)
    client_id = env.get("BOX_CLIENT_ID")
    if not client_id:
        raise UsageError("no client ID: set BOX_CLIENT_ID or [auth] client_id (the app's Configuration page)")
    secret, keep_secret = client_secret(settings, environ)
    store = Path(env.get("BOX_REFRESH_TOKEN_STORE") or default_store())
    say = functools.partial(print, file=sys.stderr)
    with http_client(settings.wire(30.0)) as http:
        answer = login(
            http, settings.api_url, client_id, secret, args.redirect_port, not args.no_browser, say,
            sys.stdin.readline,
        )  # fmt: skip
        user = BoxClient(http, StaticTokenAuth(str(answer["access_token"])), settings.api_url).users_me()
    config = args.config or args.top_config or default_config_path()
    values = {"client_id": client_id, "refresh_token_store": str(store)}
    # The token first (the one step that can fail on the network), then the files pointing at it.
    if settings.redis_url:
        seed_fleet(settings.redis_url, fleet_name(settings.fleet, settings.api_url, env), answer)
        where = "the fleet's Redis"
    else:
        store_refresh_token(store, answer)
        where = str(store)
    if keep_secret:
        secret_file = config.parent / "client-secret"
        secret_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(secret_file, (secret + "\n").encode(), 0o600)
        values["client_secret_file"] = str(secret_file)
    top = {"api_url": settings.api_url} if args.api_url else {}
    removed = point_config(config, values, top)
    print(f"boxzipfs: logged in as {user.get('name')} ({user.get('login')}); the refresh token is in {where}")
    print(f"boxzipfs: {config} now points at it; mount with: boxzipfs mount MOUNTPOINT")
    if removed:
        print(f"boxzipfs: removed [auth] {', '.join(removed)} from {config}: they would win over the login")
    return 0


def _add_request(sub: Sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("request", parents=[common], help="add or remove a request directory")
    actions = p.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", parents=[common], help="define (or redefine) a request")
    add.add_argument("mountpoint", type=Path)
    add.add_argument("name")
    add.add_argument("items", nargs="+", metavar="folder:ID|file:ID")
    add.add_argument("--name", dest="download_name", help="the archive's download_file_name")
    add.add_argument("--allow-skips", action="store_true", help="skipped items do not fail the read")
    add.add_argument(
        "--wait-for-size", action="store_true", default=None, help="stat/open wait for the whole archive"
    )
    rm = actions.add_parser("rm", parents=[common], help="remove a request")
    rm.add_argument("mountpoint", type=Path)
    rm.add_argument("name")
    refresh = actions.add_parser(
        "refresh", parents=[common], help="the next read creates a new archive (like touching request.json)"
    )
    refresh.add_argument("mountpoint", type=Path)
    refresh.add_argument("name")


def _run_request(args: argparse.Namespace) -> int:
    from boxzipfs.cli.request import add_request, refresh_request, remove_request

    if args.action == "refresh":
        refresh_request(args.mountpoint, args.name)
        archive = args.mountpoint / args.name / "request.zip"
        print(f"boxzipfs: the next read of {archive} creates a new archive")
        return 0
    if args.action == "add":
        spec = request_from_items(args.items, args.download_name, args.allow_skips, args.wait_for_size)
        path = add_request(args.mountpoint, args.name, spec)
        print(f"boxzipfs: defined {path}")
    else:
        remove_request(args.mountpoint, args.name)
        print(f"boxzipfs: removed {args.mountpoint / args.name}")
    return 0


def _add_status(sub: Sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common], help="live progress of every request of a mount")
    p.add_argument("mountpoint", type=Path, nargs="?", help="a mount (default: every boxzipfs mount)")
    p.add_argument("--once", action="store_true", help="print one snapshot and exit")
    p.add_argument("--json", action="store_true", help="print machine-readable status and exit")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    p.add_argument(
        "--fleet",
        dest="show_fleet",
        action="store_true",
        help="print the fleet's holders (every host) and its queue, from the Redis of the config file "
        "or BOXZIPFS_REDIS_URL",
    )
    p.add_argument("--fleet-name", help="the fleet (default: as boxzipfs mount chooses it)")
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if the mount is alive and ready (1 if not, with the reason): for cron and monitoring",
    )


def _run_fleet_status(args: argparse.Namespace) -> int:
    from boxzipfs.client.credentials import default_fleet
    from boxzipfs.download.fleet import fleet_report

    settings = _settings(args)
    if not settings.redis_url:
        raise UsageError("no Redis: set [mount] redis_url in the config file or BOXZIPFS_REDIS_URL")
    name = (
        args.fleet_name
        or settings.fleet
        or default_fleet(settings.api_url, settings.auth_env(dict(os.environ)))
    )
    report = fleet_report(settings.redis_url, name)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"fleet {name}: {report['leases']['user']} user leases, {report['leases']['enterprise']} "
        f"enterprise leases, {report['queued']} waiting"
    )
    for host, count in sorted(report["hosts"].items()):
        print(f"  {host}  {count} held")
    return 0


def _run_status(args: argparse.Namespace) -> int:
    from rich.console import Console

    if args.show_fleet:
        return _run_fleet_status(args)

    from boxzipfs.cli.status import boxzipfs_mounts, check, show

    if args.check:
        if args.mountpoint is None:
            raise UsageError("status --check needs the MOUNTPOINT to check")
        verdict = check(args.mountpoint)
        line = f"boxzipfs: {args.mountpoint}: {verdict['reason']}"
        print(json.dumps(verdict, indent=2) if args.json else line)
        return 0 if verdict["ok"] else 1

    mountpoints = [args.mountpoint] if args.mountpoint else boxzipfs_mounts()
    if not mountpoints:
        print("boxzipfs: no boxzipfs mounts", file=sys.stderr)
        return 1
    for mountpoint in mountpoints:
        if not os.path.ismount(mountpoint):
            print(f"boxzipfs: {mountpoint} is not mounted", file=sys.stderr)
            return 1
    # rich takes the width from the terminal or COLUMNS; a pipe gets wide lines
    console = Console() if sys.stdout.isatty() or os.environ.get("COLUMNS") else Console(width=160)
    return show(mountpoints, args.once, args.json, args.interval, console)


def _add_config(sub: Sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("config", parents=[common], help="show the effective settings")
    actions = p.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", parents=[common], help="print settings, secrets masked")
    show.add_argument("--api-url")


def _run_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    shown = settings.shown()
    env = settings.auth_env(dict(os.environ))
    shown["auth_from_environment"] = sorted(k for k in env if os.environ.get(k))
    print(json.dumps(shown, indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from boxzipfs import __version__

    parser = argparse.ArgumentParser(
        prog="boxzipfs",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"boxzipfs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()
    for add in (
        _add_mount, _add_unmount, _add_request, _add_status, _add_ls, _add_login, _add_whoami, _add_config,
        _add_serve,
    ):  # fmt: skip
        add(sub, common)
    return parser


def _setup_logging(args: argparse.Namespace) -> None:
    """-v/-q move from the default: INFO for mounts (one line per download), WARNING otherwise.

    At -v (DEBUG) the mount logs creates, stream starts and ends, retries and 429
    waits; httpx's own request lines stay off (they would carry download URLs).
    """
    default = logging.INFO if args.command == "mount" else logging.WARNING
    level = default - 10 * (args.verbose + args.top_verbose - args.quiet - args.top_quiet)
    logging.basicConfig(
        level=max(logging.DEBUG, min(logging.CRITICAL, level)),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # fusepy logs every deliberate errno (ENOENT on each lookup) with a traceback at DEBUG.
    logging.getLogger("fuse").setLevel(logging.INFO)


def _use_log_format(log_format: str) -> None:
    """--log-format json: one JSON object per line (with a download's fields) from here on."""
    if log_format == "json":
        from boxzipfs.logfields import JsonFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())


def _dispatch(args: argparse.Namespace, argv: list[str]) -> int:
    from boxzipfs.mount.mountpoint import unmount

    if args.command == "serve":
        return _run_serve(args)
    if args.command == "mount":
        return _run_mount(args, argv)
    if args.command == "unmount":
        return unmount(args.mountpoint, args.lazy)
    if args.command == "ls":
        return _run_ls(args)
    if args.command == "login":
        return _run_login(args)
    if args.command == "whoami":
        return _run_whoami(args)
    if args.command == "request":
        return _run_request(args)
    if args.command == "status":
        return _run_status(args)
    if args.command == "config":
        return _run_config(args)
    raise UsageError(f"unknown command {args.command}")


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr and a non-zero exit."""
    from boxzipfs.cli.fstab import helper_argv, helper_environment

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
            argv = helper_argv(argv)  # invoked by mount(8) for a fuse.boxzipfs fstab entry
            helper_environment(os.environ)
        args = build_parser().parse_args(argv)
        _setup_logging(args)
        return _dispatch(args, argv)
    except KeyboardInterrupt:
        return 130
    except UsageError as exc:
        print(f"boxzipfs: {exc}", file=sys.stderr)
        return 2
    except BoxZipError as exc:
        print(f"boxzipfs: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"boxzipfs: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:
        logging.getLogger(__name__).debug("internal error", exc_info=True)
        print(
            f"boxzipfs: internal error: {type(exc).__name__}: {exc} (run with -v for details)",
            file=sys.stderr,
        )
        return 1

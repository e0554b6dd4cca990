"""``boxzipfs status``: every request of a mount, read from its status.json files.

It only reads the mount's files, so it works for any boxzipfs mount. The bars
are drawn with rich.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from boxzipfs.drive.browse import ARCHIVES, BROWSE, DOWNLOADS_XATTR
from boxzipfs.drive.drive import BY_ID
from boxzipfs.drive.view import API_XATTR, HEALTH_XATTR


def boxzipfs_mounts() -> list[Path]:
    """Mountpoints of every boxzipfs mount on this machine."""
    mounts = []
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "fuse.boxzipfs":
            mounts.append(Path(fields[1].replace("\\040", " ")))
    return mounts


def request_dirs(mountpoint: Path) -> list[Path]:
    names = sorted(n for n in os.listdir(mountpoint) if n not in (BY_ID, BROWSE, ARCHIVES))
    by_id = mountpoint / BY_ID
    extra = [by_id / n for n in sorted(os.listdir(by_id))] if by_id.is_dir() else []
    return [mountpoint / n for n in names] + extra


def browse_downloads(mountpoint: Path) -> list[dict[str, Any]]:
    """The browse files read lately, from the ``user.boxzipfs.downloads`` xattr of browse/."""
    try:
        docs = json.loads(os.getxattr(mountpoint / BROWSE, DOWNLOADS_XATTR))
    except (OSError, ValueError):
        return []  # an older mount, or none read yet
    for doc in docs:
        doc["path"] = str(mountpoint / doc["name"])
    return list(docs)


def api_usage(mountpoint: Path) -> dict[str, Any] | None:
    """The mount's Box API calls by endpoint and its pacing, from the root's xattr."""
    try:
        usage = json.loads(os.getxattr(mountpoint, API_XATTR))
    except (OSError, ValueError):
        return None
    return usage if isinstance(usage, dict) else None


def api_line(usage: dict[str, Any] | None) -> str | None:
    """One line: API calls by endpoint, the budget, and the seconds they waited for it."""
    if not usage:
        return None
    calls = usage.get("calls") or {}
    shown = ", ".join(f"{name} {count}" for name, count in calls.items()) or "none yet"
    shared = " (shared by the fleet)" if usage.get("shared") else ""
    return (
        f"Box API calls: {shown}; budget {usage.get('per_minute')}/min{shared}, "
        f"{usage.get('seconds_waited', 0)}s waited for it"
    )


def collect(mountpoint: Path) -> list[dict[str, Any]]:
    """Each request's status.json (unreadable ones are reported, not skipped), then the
    browse files read lately. Folder archives show as their by-id requests."""
    docs = []
    for directory in request_dirs(mountpoint):
        try:
            doc = json.loads((directory / "status.json").read_text())
        except (OSError, ValueError) as exc:
            doc = {"name": directory.name, "phase": "unreadable", "error": {"message": str(exc)}}
        doc["path"] = str(directory)
        docs.append(doc)
    return docs + browse_downloads(mountpoint)


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return "-"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _elapsed(doc: dict[str, Any]) -> float | None:
    started = doc.get("started_at")
    if not started:
        return None
    begin = datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    finished = doc.get("finished_at")
    end = (
        datetime.strptime(finished, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if finished
        else datetime.now(UTC)
    )
    return (end - begin).total_seconds()


def _eta(doc: dict[str, Any], elapsed: float | None) -> float | None:
    done, total = doc.get("downloaded_file_count"), doc.get("total_file_count")
    if doc.get("phase") != "streaming" or not elapsed or not done or not total:
        return None
    return float(elapsed * (int(total) - int(done)) / int(done))


PHASE_STYLE = {"succeeded": "green", "failed": "red", "streaming": "cyan", "queued": "yellow"}


NARROW = 110  # below this many columns the table drops its bars and times


def _message(doc: dict[str, Any]) -> str:
    if doc.get("definition_error"):
        return str(doc["definition_error"])
    error = doc.get("error") or {}
    return str(error.get("message", "")) if isinstance(error, dict) else str(error)


def _phase(doc: dict[str, Any]) -> str:
    phase = str(doc.get("phase"))
    if phase == "queued" and doc.get("queue_position"):
        phase += f" #{doc['queue_position']}"
    if phase == "throttled" and doc.get("retry_in_seconds") is not None:
        phase += f" {doc['retry_in_seconds']:g}s"
    return phase


def _files(doc: dict[str, Any]) -> str:
    total, done = doc.get("total_file_count"), doc.get("downloaded_file_count")
    return f"{done or 0}/{total}" if total is not None else "-"


def render(mountpoint: Path, docs: list[dict[str, Any]], width: int) -> Group:
    """A table of requests, then each request's last error on its own lines (never squeezed)."""
    narrow = width < NARROW
    table = Table(title=f"boxzipfs {mountpoint}", title_justify="left")
    table.add_column("request", overflow="fold", min_width=10, ratio=1)
    columns = ("phase", "files", "delivered", "rate") if narrow else (
        "phase", "files", "delivered", "rate", "elapsed", "eta", "skipped"
    )  # fmt: skip
    for column in columns:
        table.add_column(column, no_wrap=True)
    errors = Table.grid(padding=(0, 1))
    errors.add_column(no_wrap=True, style="bold")
    errors.add_column(overflow="fold", style="red")
    for doc in docs:
        total, done = doc.get("total_file_count"), doc.get("downloaded_file_count")
        files: Table | str = _files(doc)
        if not narrow:
            files = Table.grid(padding=(0, 1))
            files.add_row(
                ProgressBar(total=total or 1, completed=(done or 0) if total else 0, width=12), _files(doc)
            )
        rate = doc.get("throughput_bytes_per_second")
        cells: list[Any] = [
            str(doc.get("name")),
            Text(_phase(doc), style=PHASE_STYLE.get(str(doc.get("phase")), "")),
            files,
            _size(doc.get("bytes_delivered")),
            _size(rate) + "/s" if rate else "-",
        ]
        if not narrow:
            elapsed = _elapsed(doc)
            skips = (doc.get("skipped_file_count") or 0, doc.get("skipped_folder_count") or 0)
            cells += [
                _seconds(elapsed),
                _seconds(_eta(doc, elapsed)),
                f"{skips[0]} files, {skips[1]} folders" if any(skips) else "-",
            ]
        table.add_row(*cells)
        if message := _message(doc):
            errors.add_row(f"{doc.get('name')}:", message)
    return Group(table, errors) if errors.row_count else Group(table)


def plain_line(doc: dict[str, Any]) -> str:
    """One line per request for logs and pipes."""
    rate = doc.get("throughput_bytes_per_second")
    parts = [
        str(doc.get("name")),
        _phase(doc),
        f"files {_files(doc)}",
        _size(doc.get("bytes_delivered")),
        (_size(rate) + "/s") if rate else "-",
    ]
    if message := _message(doc):
        parts.append(f"error: {message}")
    return "  ".join(parts)


def _follow_plain(mountpoints: list[Path], interval: float, console: Console) -> None:
    """Without a terminal: a timestamped line whenever a request's line changes."""
    last: dict[str, str] = {}
    while True:
        for mountpoint in mountpoints:
            for doc in collect(mountpoint):
                line = plain_line(doc)
                if last.get(doc["path"]) != line:
                    last[doc["path"]] = line
                    stamp = datetime.now().strftime("%H:%M:%S")
                    console.print(
                        f"{stamp} {mountpoint}: {line}", markup=False, highlight=False, soft_wrap=True
                    )
        time.sleep(interval)


def show(mountpoints: list[Path], once: bool, as_json: bool, interval: float, console: Console) -> int:
    """A snapshot (``once``/``as_json``), a live view on a terminal, or plain lines as things change."""
    if as_json:
        snapshot = [
            {"mountpoint": str(mp), "requests": collect(mp), "api": api_usage(mp)} for mp in mountpoints
        ]
        console.print_json(json.dumps(snapshot))
        return 0

    def frame() -> Group:
        parts: list[Any] = []
        for mp in mountpoints:
            parts.append(render(mp, collect(mp), console.width))
            line = api_line(api_usage(mp))
            if line:
                parts.append(line)
        return Group(*parts)

    try:
        if once:
            console.print(frame())
        elif not console.is_terminal:
            _follow_plain(mountpoints, interval, console)
        else:
            with Live(frame(), console=console, refresh_per_second=4) as live:
                while True:
                    time.sleep(interval)
                    live.update(frame())
    except KeyboardInterrupt:
        pass
    return 0


CHECK_TIMEOUT = 5.0


def check(mountpoint: Path, timeout: float = CHECK_TIMEOUT) -> dict[str, object]:
    """The daemon's verdict, as /healthz and /readyz give it: alive (the mount answers a stat
    within ``timeout``) and ready (its ``user.boxzipfs.health`` xattr, also within it)."""
    if Path(os.path.abspath(mountpoint)) not in boxzipfs_mounts():  # /proc/mounts: no FUSE call
        return {"ok": False, "reason": "not mounted", "checks": {"mounted": "not mounted"}}
    answer: list[bytes | str] = []

    def ask() -> None:
        try:
            os.stat(mountpoint)
            answer.append(os.getxattr(mountpoint, HEALTH_XATTR))
        except OSError as exc:
            answer.append(f"the mount does not answer: {exc.strerror}")

    worker = threading.Thread(target=ask, name="status-check", daemon=True)
    worker.start()
    worker.join(timeout)
    if not answer:
        reason = f"the mount did not answer within {timeout:g} s (its FUSE loop is stuck)"
        return {"ok": False, "reason": reason, "checks": {"fuse_loop": reason}}
    if isinstance(answer[0], str):
        return {"ok": False, "reason": answer[0], "checks": {"fuse_loop": answer[0]}}
    verdict: dict[str, object] = json.loads(answer[0])
    verdict["reason"] = "alive and ready" if verdict.get("ok") else f"not ready: {verdict.get('reason')}"
    return verdict

"""The daemon's signals and its running commentary to systemd.

libfuse's loop holds the main thread in C, where a Python signal handler would
never run. So ``SIGHUP`` and ``SIGUSR1`` are blocked in every thread before any
starts, and one thread takes them with ``sigwait``: ``SIGHUP`` drops the listing
caches (a tree changed on Box shows at once) and reopens the log file (for
logrotate); ``SIGUSR1`` writes a one-screen state dump to the log. ``SIGINT`` and
``SIGTERM`` stay libfuse's: they unmount.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from boxzipfs.mount.sdnotify import SystemdNotifier

log = logging.getLogger(__name__)
CONTROL_SIGNALS = {signal.SIGHUP, signal.SIGUSR1}
LOG_FILE_ENV = "BOXZIPFS_LOG_FILE"  # set by the background parent: the file the daemon's output goes to
STATUS_SECONDS = 2.0


def block_control_signals() -> None:
    """Block SIGHUP and SIGUSR1 in this thread and every thread started after it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, CONTROL_SIGNALS)


def reopen_log(path: Path) -> None:
    """Point stdout and stderr (where the log lines go) at ``path`` afresh (logrotate moved it)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    finally:
        os.close(fd)


def handle_control_signals(on_hup: Callable[[], None], on_usr1: Callable[[], None]) -> threading.Thread:
    def wait() -> None:
        while True:
            received = signal.sigwait(CONTROL_SIGNALS)
            try:
                on_hup() if received == signal.SIGHUP else on_usr1()
            except Exception:  # a signal never stops the daemon
                log.exception("handling %s failed", signal.Signals(received).name)

    thread = threading.Thread(target=wait, name="signals", daemon=True)
    thread.start()
    return thread


def log_file() -> Path | None:
    value = os.environ.get(LOG_FILE_ENV)
    return Path(value) if value else None


def report_status(
    notifier: SystemdNotifier, describe: Callable[[], str], stop: threading.Event
) -> threading.Thread | None:
    """``STATUS=`` lines for systemd as downloads come and go (sent only when they change)."""
    if not notifier.active:
        return None

    def loop() -> None:
        while not stop.wait(STATUS_SECONDS):
            with contextlib.suppress(Exception):
                notifier.status(describe())

    thread = threading.Thread(target=loop, name="systemd-status", daemon=True)
    thread.start()
    return thread

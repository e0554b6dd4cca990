"""systemd's readiness protocol: one datagram per message to ``$NOTIFY_SOCKET``.

A unit with ``Type=notify`` starts its dependants only after ``READY=1``, so a
service ordered ``After=`` the mount finds it mounted and answering. ``STATUS=``
lines show in ``systemctl status``; ``STOPPING=1`` says the daemon is on its way
out. Without ``$NOTIFY_SOCKET`` (not under systemd) every call does nothing. The
protocol is a few lines (sd_notify(3)); no maintained pure-Python library adds
anything to it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading


class SystemdNotifier:
    """Sends ``KEY=value`` messages to systemd, if it is listening."""

    def __init__(self, address: str | None) -> None:
        self._address: str | bytes | None = None
        if address and (address.startswith(("/", "@"))):
            # "@name" is Linux's abstract namespace: a leading NUL byte on the wire
            self._address = b"\0" + address[1:].encode() if address.startswith("@") else address
        self._lock = threading.Lock()  # guards _status
        self._status = ""

    @classmethod
    def from_environment(cls) -> SystemdNotifier:
        # Unset, so that the programs the daemon starts (the embedded server) never speak for it.
        return cls(os.environ.pop("NOTIFY_SOCKET", None))

    @property
    def active(self) -> bool:
        return self._address is not None

    def send(self, *fields: str) -> None:
        if self._address is None:
            return
        message = "\n".join(field.replace("\n", " ") for field in fields).encode()
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(message, self._address)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def status(self, status: str) -> None:
        """A ``STATUS=`` line, sent only when it changed."""
        with self._lock:
            if status == self._status:
                return
            self._status = status
        self.send(f"STATUS={status}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=unmounting")

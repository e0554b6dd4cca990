"""Who is calling, from /proc: right for a thread of another process, kept for a second only."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from boxzipfs.drive import callers


def test_a_threads_program_and_name_come_from_proc_and_are_kept_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import threading, time; t = threading.Thread(target=time.sleep, "
         "args=(30,)); t.start(); print(t.native_id, flush=True); t.join()"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        tid = int(child.stdout.readline())
        assert tid != child.pid
        assert callers.program(tid) == child.pid
        assert callers.name(tid) == Path(f"/proc/{child.pid}/comm").read_text().strip()
        reads: list[str] = []
        real = Path.read_text

        def counted(self: Path, *args: object, **kwargs: object) -> str:
            reads.append(str(self))
            return real(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Path, "read_text", counted)
        assert callers.program(tid) == child.pid and callers.name(tid) is not None
        assert reads == []  # kept: no /proc read on the path of every open
        time.sleep(callers.KEEP_SECONDS + 0.1)
        assert callers.program(tid) == child.pid
        assert reads == [f"/proc/{tid}/status"]  # read again once the second is over
    finally:
        child.kill()
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
    assert callers.program(threading.get_native_id()) == os.getpid()  # a thread of this process
    assert callers.program(2**22 + 12345) == 2**22 + 12345  # no such thread: itself, not kept

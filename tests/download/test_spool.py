"""Spool: blocking positional reads over an append-only file."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from boxzipfs.download.spool import Spool, SpoolPool
from boxzipfs.errors import BoxZipError, SpoolError, StreamBroken


def opened(path: Path) -> Spool:
    spool = Spool(path)
    spool.open()
    return spool


def test_a_spool_that_cannot_be_created_is_a_spool_error(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "missing-dir" / "a.spool")
    with pytest.raises(SpoolError, match="cannot create the spool: No such file or directory"):
        spool.open()
    spool.discard()  # nothing to remove, no error


def test_reads_wait_for_bytes_and_end_cleanly_only_when_finished(tmp_path: Path) -> None:
    spool = opened(tmp_path / "a.spool")
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(spool.read(3, 4)))
    reader.start()
    spool.append([b"abc"])
    time.sleep(0.05)
    assert reader.is_alive()  # bytes 3..7 are not there yet
    spool.append([b"defghij"])
    reader.join(2)
    assert got == [b"defg"]
    with pytest.raises(TimeoutError):
        spool.read(8, 10, timeout=0.05)  # short of the end, not finished: no EOF yet
    spool.finish()
    assert spool.read(8, 10) == b"ij"
    assert spool.read(10, 10) == b""
    assert spool.wait_done() == 10


def test_out_of_order_reads_are_absorbed(tmp_path: Path) -> None:
    spool = opened(tmp_path / "a.spool")
    data = bytes(range(256)) * 64
    results: dict[int, bytes] = {}
    offsets = [4096 * i for i in (3, 1, 2, 0)]
    threads = [threading.Thread(target=lambda o=o: results.update({o: spool.read(o, 4096)})) for o in offsets]
    for thread in threads:
        thread.start()
    for i in range(0, len(data), 1000):
        spool.append([data[i : i + 1000]])
    spool.finish()
    for thread in threads:
        thread.join(2)
    assert b"".join(results[o] for o in sorted(results)) == data


def test_failure_reaches_every_reader_even_for_bytes_present(tmp_path: Path) -> None:
    spool = opened(tmp_path / "a.spool")
    spool.append([b"x" * 100])
    waiting: list[BaseException] = []

    def read_past_end() -> None:
        try:
            spool.read(100, 10)
        except BoxZipError as exc:
            waiting.append(exc)

    reader = threading.Thread(target=read_past_end)
    reader.start()
    spool.fail(StreamBroken("cut"))
    reader.join(2)
    assert [type(e) for e in waiting] == [StreamBroken]
    with pytest.raises(StreamBroken):
        spool.read(0, 10)
    with pytest.raises(StreamBroken):
        spool.wait_done()


def test_discard_deletes_the_file_and_fails_reads(tmp_path: Path) -> None:
    spool = opened(tmp_path / "a.spool")
    spool.append([b"abc"])
    spool.finish()
    spool.discard()
    assert not (tmp_path / "a.spool").exists()
    with pytest.raises(BoxZipError):
        spool.read(0, 1)


def test_a_done_spool_is_written_over_in_place_by_the_next_one(tmp_path: Path) -> None:
    pool = SpoolPool(tmp_path)
    first = Spool(tmp_path / "1.spool", pool.give)
    first.open()
    first.append([b"A" * 300_000])
    first.finish()
    inode = first.path.stat().st_ino
    first.discard()
    assert not first.path.exists() and pool.bytes == 300_000

    second_path = tmp_path / "2.spool"
    assert pool.take(second_path) and pool.bytes == 0
    second = Spool(second_path, pool.give)
    second.open()
    reader = threading.Thread(target=lambda: got.append(second.read(0, 5)))
    got: list[bytes] = []
    reader.start()
    time.sleep(0.05)
    assert reader.is_alive()  # the old bytes on disk are not this archive's
    second.append([b"short"])
    reader.join(2)
    assert got == [b"short"]  # a read waits for this archive's bytes, never the old file's
    second.finish()
    assert second.path.stat().st_ino == inode  # the same file...
    assert second.path.stat().st_size == 5  # ...cut to this archive's length
    assert second.read(0, 100) == b"short" and second.read(5, 10) == b""


def test_the_pool_keeps_two_files_and_drops_the_largest_first(tmp_path: Path) -> None:
    pool = SpoolPool(tmp_path, keep=2)
    for name, size in (("a", 10), ("b", 30), ("c", 20)):
        (tmp_path / name).write_bytes(b"x" * size)
        pool.give(tmp_path / name)
    assert pool.bytes == 40  # the third was deleted, not kept
    assert sorted(p.stat().st_size for p in tmp_path.glob("free-*.spool")) == [10, 30]
    assert not any((tmp_path / n).exists() for n in "abc")
    assert pool.drop() == 30 and pool.bytes == 10
    assert pool.take(tmp_path / "d") and (tmp_path / "d").stat().st_size == 10
    assert not pool.take(tmp_path / "e") and pool.drop() == 0


def test_only_complete_spools_are_kept_for_reuse(tmp_path: Path) -> None:
    pool = SpoolPool(tmp_path)
    broken = Spool(tmp_path / "broken.spool", pool.give)
    broken.open()
    broken.append([b"partial"])
    broken.fail(StreamBroken("cut"))
    broken.discard()
    assert pool.bytes == 0 and not list(tmp_path.iterdir())


def test_a_finished_spool_holds_a_descriptor_only_while_a_reader_does(tmp_path: Path) -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    spools = [opened(tmp_path / f"{n}.spool") for n in range(50)]
    assert open_fds() == before + 50  # each writer holds its file
    for spool in spools:
        spool.append([b"abc"])
        spool.finish()
    assert open_fds() == before  # kept for reuse, but no descriptor each
    assert spools[0].read(0, 3) == b"abc"  # opened again for the read, closed after it
    assert open_fds() == before
    spools[1].attach()
    assert spools[1].read(1, 2) == b"bc"
    assert open_fds() == before + 1  # a reader's file stays open between its reads
    spools[1].detach()
    assert open_fds() == before
    for spool in spools:
        spool.discard()
    assert not list(tmp_path.glob("*.spool"))  # discarded files go, though none was open

"""The file cache and folder prefetch on the in-process fake of Box's zip API: only whole,
SHA-1-checked files enter; a broken prefetch leaves the rest to their own downloads; an
unchanged cache survives a new process and a corrupted entry is dropped."""

from __future__ import annotations

import hashlib
from pathlib import Path

from boxzipfs.download.filecache import FileCache
from boxzipfs.download.prefetch import Candidate, Prefetcher, PrefetchSettings
from boxzipfs.download.slots import SlotQueue
from tests.download.test_archive import FakeBox, archive_of

FILES = {f"f{i}.txt": f"file {i}\n".encode() * (i + 1) for i in range(6)}


def candidates(files: dict[str, bytes], changed: str | None = None) -> list[Candidate]:
    out = []
    for index, (name, data) in enumerate(files.items()):
        listed = data if name != changed else data[::-1] + b"!"  # the listing says otherwise
        out.append(Candidate(str(100 + index), name, len(listed), hashlib.sha1(listed).hexdigest()))
    return out


def prefetch(box: FakeBox, cache: FileCache, listed: list[Candidate], **settings: int) -> Prefetcher:
    prefetcher = Prefetcher(box, SlotQueue(2), cache, PrefetchSettings(after=2, **settings))
    prefetcher.noticed("9", listed[0].id, lambda: listed)
    prefetcher.noticed("9", listed[1].id, lambda: listed)  # the second file of the folder: due
    for candidate in listed[1:]:
        prefetcher.wait(candidate.id)
    return prefetcher


def test_a_prefetch_brings_the_folders_other_files_checked(tmp_path: Path) -> None:
    box = FakeBox(archive_of(FILES))
    cache = FileCache(tmp_path / "files", 1 << 20)
    listed = candidates(FILES, changed="f3.txt")
    prefetcher = prefetch(box, cache, listed)
    assert box.creates == 1 and prefetcher.stats()["batches"] == 1
    for candidate in listed[2:]:
        found = cache.lookup(candidate.id, candidate.sha1, candidate.size)
        if candidate.name == "f3.txt":
            assert found is None  # its bytes are not what the listing says: never cached
        else:
            assert found is not None and found.read_bytes() == FILES[candidate.name]
            cache.unpin(candidate.id, candidate.sha1)
    assert not cache.contains(listed[0].id, listed[0].sha1)  # the first file keeps its own download
    assert cache.contains(listed[1].id, listed[1].sha1)  # the one that made it due came with the rest


def test_a_broken_prefetch_delivers_what_arrived_and_releases_the_rest(tmp_path: Path) -> None:
    data = archive_of(FILES)
    box = FakeBox(data, cuts=(len(data) // 2,))
    cache = FileCache(tmp_path / "files", 1 << 20)
    listed = candidates(FILES)
    prefetcher = prefetch(box, cache, listed)
    arrived = [c for c in listed[2:] if cache.contains(c.id, c.sha1)]
    assert 0 < len(arrived) < 4 and prefetcher.stats()["pending"] == 0
    assert not list((tmp_path / "files").glob(".tmp-*"))  # nothing half-written stays


def test_limits_split_a_folder_and_the_cache_never_exceeds_its_budget(tmp_path: Path) -> None:
    box = FakeBox(archive_of(FILES))
    cache = FileCache(tmp_path / "files", 1 << 20)
    listed = candidates(FILES)
    prefetch(box, cache, listed, max_files=2)
    assert sum(cache.contains(c.id, c.sha1) for c in listed) == 2  # at most max_files a prefetch
    small = FileCache(tmp_path / "small", 60)
    for candidate in candidates(FILES):
        path = small.temporary(candidate.id)
        path.write_bytes(FILES[candidate.name])
        small.add(candidate.id, candidate.sha1, path)
    assert small.stats()["bytes"] <= 60


def test_the_cache_outlives_its_process_and_drops_a_corrupted_entry(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "files", 1 << 20)
    listed = candidates(FILES)
    for candidate in listed:
        path = cache.temporary(candidate.id)
        path.write_bytes(FILES[candidate.name])
        assert cache.add(candidate.id, candidate.sha1, path)
    (tmp_path / "files" / ".tmp-999-1-2").write_bytes(b"half")  # a crash mid-write
    bad = tmp_path / "files" / FileCache.key(listed[1].id, listed[1].sha1)
    bad.write_bytes(bytes([bad.read_bytes()[0] ^ 1]) + bad.read_bytes()[1:])
    again = FileCache(tmp_path / "files", 1 << 20)  # the next mount
    assert not (tmp_path / "files" / ".tmp-999-1-2").exists()
    good = again.lookup(listed[0].id, listed[0].sha1, listed[0].size)
    assert good is not None and good.read_bytes() == FILES[listed[0].name]
    assert again.lookup(listed[1].id, listed[1].sha1, listed[1].size) is None
    assert not bad.exists() and again.stats()["dropped"] == 1


def test_the_opens_it_watches_are_forgotten_after_the_window(tmp_path: Path) -> None:
    """A long run over many folders keeps only the last window's opens (no growth with
    uptime), and an open costs the same whatever the folder's size (no scan of every open)."""
    now = [1000.0]
    prefetcher = Prefetcher(
        FakeBox(archive_of(FILES)), SlotQueue(2), FileCache(tmp_path / "files", 1 << 20),
        PrefetchSettings(after=10**6, window=60.0), clock=lambda: now[0],
    )  # fmt: skip
    for folder in range(50):
        for file in range(200):
            prefetcher.noticed(str(folder), f"{folder}-{file}", list)
            now[0] += 0.001
    assert prefetcher.stats()["opens_watched"] == 10_000
    now[0] += 61
    prefetcher.noticed("last", "x", list)
    assert prefetcher.stats()["opens_watched"] == 1  # every folder's old opens are gone, folders too


def test_the_cache_index_is_bounded_in_files_as_in_bytes(tmp_path: Path) -> None:
    """Tiny files fill the file count before the byte budget: the oldest go, a pinned one stays."""
    cache = FileCache(tmp_path / "files", 1 << 30, max_entries=3)
    listed = candidates(FILES)
    first = cache.temporary(listed[0].id)
    first.write_bytes(FILES[listed[0].name])
    cache.add(listed[0].id, listed[0].sha1, first)
    assert cache.lookup(listed[0].id, listed[0].sha1, listed[0].size) is not None  # a reader holds it
    for candidate in listed[1:]:
        path = cache.temporary(candidate.id)
        path.write_bytes(FILES[candidate.name])
        cache.add(candidate.id, candidate.sha1, path)
    assert [c.name for c in listed if cache.contains(c.id, c.sha1)] == ["f0.txt", "f4.txt", "f5.txt"]
    assert len(list((tmp_path / "files").iterdir())) == 3
    cache.unpin(listed[0].id, listed[0].sha1)
    assert cache.stats()["files"] == 3

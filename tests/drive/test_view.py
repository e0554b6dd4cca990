"""MountView without FUSE: every tree's lookup, list and open on a fake Box, and every
refused write with its errno (the kernel sees exactly these through the skin's one table)."""

from __future__ import annotations

import errno
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from boxzipfs.drive.errnos import errno_for
from boxzipfs.drive.view import MountView, OpenFile
from boxzipfs.errors import BoxZipError
from tests.drive.support import mount_view
from tests.fakebox import FakeBox

OK = "ok"


@pytest.fixture
def box() -> FakeBox:
    box = FakeBox()
    docs = box.folder("Docs")
    box.file("a.txt", b"hello", docs)
    box.file("b.bin", bytes(range(256)) * 100, docs)
    return box


def docs_id(box: FakeBox) -> str:
    return box.items["0"].children["Docs"]


def spec_for(*items: tuple[str, str]) -> bytes:
    return json.dumps({"items": [{"type": kind, "id": id_} for kind, id_ in items]}).encode()


@pytest.fixture
def view(tmp_path: Path, box: FakeBox) -> Iterator[MountView]:
    """A mount with one request, ``req``, defined on the folder Docs."""
    with mount_view(tmp_path, box) as view:
        view.mkdir("/req")
        define(view, "/req", spec_for(("folder", docs_id(box))))
        yield view


def define(view: MountView, directory: str, spec: bytes) -> None:
    writer = view.create(f"{directory}/request.json")
    writer.write(spec, 0)
    writer.flush()
    writer.close()


def read_all(opened: OpenFile, chunk: int = 4096) -> bytes:
    out = bytearray()
    while data := opened.read(len(out), chunk):
        out += data
    opened.close()
    return bytes(out)


def refusal(call: Callable[[], object]) -> str:
    """``ok``, or the errno name the skin would answer."""
    try:
        result = call()
    except BoxZipError as exc:
        return errno.errorcode[errno_for(exc)]
    close = getattr(result, "close", None)
    if close is not None:
        close()
    return OK


# -- every write, on every kind of path -----------------------------------------------------

OPS: dict[str, Callable[[MountView, str], object]] = {
    "mkdir": lambda v, p: v.mkdir(p),
    "rmdir": lambda v, p: v.rmdir(p),
    "create": lambda v, p: v.create(p),
    "open_write": lambda v, p: v.open(p, True, False),
    "truncate": lambda v, p: v.truncate(p, 0),
    "touch": lambda v, p: v.touch(p),
    "chmod": lambda v, p: v.chmod(p),
    "chown_other": lambda v, p: v.chown(p, 4242, 4242),
    "unlink": lambda v, p: v.unlink(p),
    "rename": lambda v, p: v.rename(p, p.rstrip("/") + "2" if p != "/" else "/x"),
}
EPERM, EROFS, EISDIR, EACCES, ENOENT = "EPERM", "EROFS", "EISDIR", "EACCES", "ENOENT"
READ_ONLY_TREE = dict.fromkeys(OPS, EROFS)
REQUEST_OUTPUT = {
    "mkdir": EPERM, "rmdir": "ENOTDIR", "create": EACCES, "open_write": EACCES, "truncate": EACCES,
    "touch": OK, "chmod": EPERM, "chown_other": EPERM, "unlink": EACCES, "rename": EPERM,
}  # fmt: skip
BY_ID_FILE = {**dict.fromkeys(OPS, EROFS), "touch": OK}
TOP = {**dict.fromkeys(OPS, EPERM), "open_write": EISDIR, "truncate": EISDIR, "touch": OK}
# What each write answers on each path ({id}: the folder Docs). In a mount the kernel answers
# some first (ENOENT for a name it looked up and did not find, EISDIR for unlink of a directory).
TABLE: dict[str, dict[str, str]] = {
    "/": TOP,
    "/by-id": READ_ONLY_TREE,  # the tree itself is read-only too, as browse/ is
    "/by-id/folder-{id}": READ_ONLY_TREE,
    "/by-id/folder-{id}/request.zip": BY_ID_FILE,
    "/by-id/folder-{id}/status.json": BY_ID_FILE,
    "/by-id/folder-{id}/request.json": BY_ID_FILE,
    "/browse": READ_ONLY_TREE,
    "/browse/Docs": READ_ONLY_TREE,
    "/browse/Docs/a.txt": READ_ONLY_TREE,
    "/browse/nope": READ_ONLY_TREE,
    "/archives": READ_ONLY_TREE,
    "/archives/Docs": READ_ONLY_TREE,
    "/archives/Docs.zip": READ_ONLY_TREE,
    "/req": {
        "mkdir": "EEXIST", "rmdir": OK, "create": EISDIR, "open_write": EISDIR, "truncate": EISDIR,
        "touch": OK, "chmod": EPERM, "chown_other": EPERM, "unlink": ENOENT, "rename": EPERM,
    },
    "/req/request.zip": REQUEST_OUTPUT,
    "/req/status.json": REQUEST_OUTPUT,
    "/req/request.json": {
        "mkdir": EPERM, "rmdir": "ENOTDIR", "create": OK, "open_write": OK, "truncate": "EINVAL",
        "touch": OK, "chmod": OK, "chown_other": EPERM, "unlink": OK, "rename": EPERM,
    },
    "/nope": {
        "mkdir": OK, "rmdir": ENOENT, "create": EPERM, "open_write": EISDIR, "truncate": EISDIR,
        "touch": ENOENT, "chmod": EPERM, "chown_other": EPERM, "unlink": ENOENT, "rename": EPERM,
    },
    "/nope/x": {**dict.fromkeys(OPS, ENOENT), "mkdir": EPERM, "rmdir": "ENOTDIR", "rename": EPERM},
}  # fmt: skip


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("path", TABLE)
def test_every_write_on_every_path_answers_its_errno(
    view: MountView, box: FakeBox, path: str, op: str
) -> None:
    real = path.format(id=docs_id(box))
    assert refusal(lambda: OPS[op](view, real)) == TABLE[path][op]
    if TABLE[path][op] != OK:  # a refusal changes nothing
        assert view.listdir("/") == ["by-id", "browse", "archives", "req"]
        assert view.listdir("/req") == ["request.json", "request.zip", "status.json"]
        assert json.loads(read_all(view.open("/req/request.json", False, False)))["items"][0][
            "id"
        ] == docs_id(box)


def test_a_mount_without_browse_shows_by_id_and_requests_only(tmp_path: Path, box: FakeBox) -> None:
    with mount_view(tmp_path, box, browse=False) as view:
        view.mkdir("/r")
        assert view.listdir("/") == ["by-id", "r"]
        assert refusal(lambda: view.lookup("/browse")) == ENOENT
        assert refusal(lambda: view.listdir("/archives/Docs")) == ENOENT


# -- request directories ------------------------------------------------------------------


def test_a_request_goes_from_undefined_to_an_archive_of_its_items(tmp_path: Path, box: FakeBox) -> None:
    with mount_view(tmp_path, box) as view:
        view.mkdir("/r")
        assert view.lookup("/r") == view.lookup("/") and view.lookup("/r").mode == 0o755
        assert view.listdir("/r") == ["status.json"]
        assert refusal(lambda: view.lookup("/r/request.json")) == ENOENT
        status = json.loads(read_all(view.open("/r/status.json", False, False)))
        assert (status["name"], status["defined"], status["phase"]) == ("r", False, "idle")
        writer = view.create("/r/request.json")
        assert view.lookup("/r/request.json").size == 0  # created, not yet written: cp's fstat sees it
        assert view.listdir("/r") == ["request.json", "status.json"]
        spec = spec_for(("folder", docs_id(box)))
        writer.write(spec, 0)
        writer.flush()
        writer.close()
        assert view.listdir("/r") == ["request.json", "request.zip", "status.json"]
        assert read_all(view.open("/r/request.json", False, False)) == spec
        assert view.lookup("/r/request.json").size == len(spec)
        assert box.calls["create_zip_download"] == 0  # defining downloads nothing; a stat neither
        assert view.lookup("/r/request.zip").size == 0
        assert box.calls["create_zip_download"] == 0
        data = read_all(view.open("/r/request.zip", False, False))
        assert data == box.archive(1) and box.calls["create_zip_download"] == 1
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.read("Docs/a.txt") == b"hello"
            assert archive.read("Docs/b.bin") == bytes(range(256)) * 100
        assert view.lookup("/r/request.zip").size == len(data)  # complete: its exact size
        status = json.loads(read_all(view.open("/r/status.json", False, False)))
        assert (status["defined"], status["phase"], status["state"]) == (True, "succeeded", "succeeded")
        assert status["archive_size"] == status["bytes_delivered"] == len(data)
        assert (status["total_file_count"], status["downloaded_file_count"]) == (2, 2)


def test_a_definition_refused_at_write_keeps_the_old_one(view: MountView, box: FakeBox) -> None:
    before = read_all(view.open("/req/request.json", False, False))
    writer = view.open("/req/request.json", True, True)
    assert refusal(lambda: writer.write(b'{"items": 5}', 0)) == "EINVAL"
    assert refusal(writer.flush) == "EINVAL"  # every later call says so, too
    writer.close()
    assert read_all(view.open("/req/request.json", False, False)) == before


def test_a_scratch_file_renamed_over_request_json_replaces_the_definition(
    view: MountView, box: FakeBox
) -> None:
    file_id = box.items[docs_id(box)].children["a.txt"]
    scratch = view.create("/req/.request.json.tmp")
    scratch.write(b"not json", 0)
    scratch.close()
    assert view.listdir("/req") == ["request.json", "request.zip", "status.json", ".request.json.tmp"]
    assert refusal(lambda: view.rename("/req/.request.json.tmp", "/req/request.json")) == "EINVAL"
    assert view.listdir("/req")[-1] == ".request.json.tmp"  # both stay as they were
    view.truncate("/req/.request.json.tmp", 0)
    reopened = view.open("/req/.request.json.tmp", True, False)
    reopened.write(spec_for(("file", file_id)), 0)
    reopened.close()
    view.rename("/req/.request.json.tmp", "/req/request.json")
    assert view.listdir("/req") == ["request.json", "request.zip", "status.json"]
    with zipfile.ZipFile(io.BytesIO(read_all(view.open("/req/request.zip", False, False)))) as archive:
        assert archive.namelist() == ["a.txt"]


def test_touching_request_json_asks_for_a_fresh_archive(view: MountView, box: FakeBox) -> None:
    first = read_all(view.open("/req/request.zip", False, False))
    assert read_all(view.open("/req/request.zip", False, False)) == first
    assert box.calls["create_zip_download"] == 1  # a complete archive is read again, not fetched
    box.change(box.items[docs_id(box)].children["a.txt"], b"new words")
    view.touch("/req/request.json")
    second = read_all(view.open("/req/request.zip", False, False))
    assert box.calls["create_zip_download"] == 2
    with zipfile.ZipFile(io.BytesIO(second)) as archive:
        assert archive.read("Docs/a.txt") == b"new words"


def test_removing_a_request_forgets_it(view: MountView) -> None:
    view.create("/req/scratch").close()
    view.rmdir("/req")
    assert view.listdir("/") == ["by-id", "browse", "archives"]
    assert refusal(lambda: view.lookup("/req")) == ENOENT
    view.mkdir("/req")
    assert view.listdir("/req") == ["status.json"]  # nothing of the old one, scratch included


def test_unlinking_request_json_leaves_the_request_undefined(view: MountView) -> None:
    view.unlink("/req/request.json")
    assert view.listdir("/req") == ["status.json"]
    assert refusal(lambda: view.open("/req/request.zip", False, False)) == ENOENT


def test_the_mounts_own_names_cannot_name_a_request(tmp_path: Path, box: FakeBox) -> None:
    with mount_view(tmp_path, box, browse=False) as view:
        names = ("by-id", "browse", ".hidden", "forged\nline")
        answers = {name: refusal(lambda name=name: view.mkdir(f"/{name}")) for name in names}
        assert answers == {"by-id": EROFS, "browse": EROFS, ".hidden": "EINVAL", "forged\nline": "EINVAL"}
        assert view.listdir("/") == ["by-id"]


# -- by-id ------------------------------------------------------------------------------------


def test_by_id_needs_no_definition(view: MountView, box: FakeBox) -> None:
    folder = f"/by-id/folder-{docs_id(box)}"
    assert view.lookup(folder).is_dir and view.lookup(folder).mode == 0o555
    assert view.listdir(folder) == ["request.json", "request.zip", "status.json"]
    assert json.loads(read_all(view.open(f"{folder}/request.json", False, False)))["items"] == [
        {"type": "folder", "id": docs_id(box)}
    ]
    assert view.lookup(f"{folder}/request.json").mode == 0o444
    with zipfile.ZipFile(io.BytesIO(read_all(view.open(f"{folder}/request.zip", False, False)))) as archive:
        assert archive.read("Docs/a.txt") == b"hello"
    assert f"folder-{docs_id(box)}" in view.listdir("/by-id")
    assert refusal(lambda: view.lookup("/by-id/nonsense")) == ENOENT
    assert refusal(lambda: view.lookup(f"{folder}/other")) == ENOENT


# -- browse/ and archives/ ---------------------------------------------------------------------


def test_browse_shows_box_by_name_with_exact_sizes(view: MountView, box: FakeBox) -> None:
    assert view.listdir("/browse") == ["Docs"]
    assert view.listdir("/browse/Docs") == ["a.txt", "b.bin"]
    folder, file = view.lookup("/browse/Docs"), view.lookup("/browse/Docs/a.txt")
    assert (folder.is_dir, folder.mode) == (True, 0o555)
    assert (file.is_dir, file.mode, file.size) == (False, 0o444, 5)
    assert box.calls["create_zip_download"] == 0  # listing and stat download nothing
    opened = view.open("/browse/Docs/b.bin", False, False)
    assert opened.entry().size == 25600 and not opened.direct_io  # an ordinary, cacheable file
    assert read_all(opened, 1000) == bytes(range(256)) * 100
    assert read_all(view.open("/browse/Docs/a.txt", False, False)) == b"hello"
    assert refusal(lambda: view.open("/browse/Docs", False, False)) == EISDIR
    assert refusal(lambda: view.listdir("/browse/Docs/a.txt")) == "ENOTDIR"
    assert refusal(lambda: view.lookup("/browse/Docs/nope")) == ENOENT


def test_an_empty_box_file_reads_empty_with_no_download(tmp_path: Path, box: FakeBox) -> None:
    with mount_view(tmp_path, box) as view:
        _empty_file_reads_empty(view, box)


def _empty_file_reads_empty(view: MountView, box: FakeBox) -> None:
    box.file("empty", b"", docs_id(box))
    assert view.lookup("/browse/Docs/empty").size == 0
    assert read_all(view.open("/browse/Docs/empty", False, False)) == b""
    assert box.calls["create_zip_download"] == 0


def test_archives_shows_each_folder_as_one_zip(view: MountView, box: FakeBox) -> None:
    assert view.listdir("/archives") == ["Docs", "Docs.zip"]
    assert view.listdir("/archives/Docs") == []
    entry = view.lookup("/archives/Docs.zip")
    assert (entry.is_dir, entry.mode) == (False, 0o444)
    data = read_all(view.open("/archives/Docs.zip", False, False))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["Docs/", "Docs/a.txt", "Docs/b.bin"]
    assert view.lookup("/archives/Docs.zip").size == len(data)
    assert refusal(lambda: view.open("/archives/Docs", False, False)) == EISDIR
    assert refusal(lambda: view.listdir("/archives/Docs.zip")) == "ENOTDIR"


# -- extended attributes ------------------------------------------------------------------------


def test_status_xattrs_are_where_a_download_is(view: MountView, box: FakeBox) -> None:
    assert view.listxattr("/") == []
    assert view.listxattr("/req/request.zip") == ["user.boxzipfs.status"]
    assert view.listxattr("/req/request.json") == []
    assert view.listxattr("/browse") == ["user.boxzipfs.downloads"]
    read_all(view.open("/browse/Docs/a.txt", False, False))
    status = json.loads(view.getxattr("/browse/Docs/a.txt", "user.boxzipfs.status"))
    assert (status["name"], status["phase"], status["size"]) == ("browse/Docs/a.txt", "succeeded", 5)
    downloads = json.loads(view.getxattr("/browse", "user.boxzipfs.downloads"))
    assert [doc["name"] for doc in downloads] == ["browse/Docs/a.txt"]
    folder = json.loads(view.getxattr("/archives/Docs.zip", "user.boxzipfs.status"))
    assert (folder["name"], folder["phase"]) == (f"by-id/folder-{docs_id(box)}", "idle")
    assert refusal(lambda: view.getxattr("/req/request.json", "user.boxzipfs.status")) == "ENODATA"
    assert refusal(lambda: view.getxattr("/", "user.other")) == "ENODATA"


def test_the_roots_xattrs_carry_health_and_api_usage(tmp_path: Path, box: FakeBox) -> None:
    with mount_view(tmp_path, box, health=lambda: {"ready": True}, api_usage=lambda: {"calls": 3}) as view:
        assert view.listxattr("/") == ["user.boxzipfs.api", "user.boxzipfs.health"]
        assert json.loads(view.getxattr("/", "user.boxzipfs.health")) == {"ready": True}
        assert json.loads(view.getxattr("/", "user.boxzipfs.api")) == {"calls": 3}

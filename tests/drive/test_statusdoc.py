"""status.json: Box's status merged with local state, errors with their errno, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

from boxzipfs.drive.statusdoc import BOX_FIELDS, error_document, status_document
from boxzipfs.errors import Forbidden, QueueTimeout
from boxzipfs.models import parse_request_spec
from tests.drive.support import mount_view
from tests.drive.test_view import define, read_all, refusal, spec_for
from tests.fakebox import FakeBox


def test_an_undefined_request_has_every_field_and_no_download() -> None:
    doc = status_document("r", None, None, None, None, 0, "request.json was left empty")
    assert doc["name"] == "r" and doc["defined"] is False and doc["phase"] == "idle"
    assert doc["definition_error"] == "request.json was left empty" and doc["error"] is None
    assert all(doc[field] is None for field in BOX_FIELDS)


def test_a_defined_request_says_its_options() -> None:
    spec = parse_request_spec(b'{"items": [{"type": "file", "id": "1"}], "allow_skips": true}')
    doc = status_document("r", spec, True, None, None, 2, None)
    assert (doc["allow_skips"], doc["wait_for_size"], doc["readers"]) == (True, True, 2)


def test_errors_carry_their_errno_and_boxs_own_fields() -> None:
    box_error = error_document(Forbidden(403, "access_denied", "no access", "req-1"))
    assert box_error == {
        "errno": "EACCES",
        "type": "Forbidden",
        "message": "Box answered 403 access_denied: no access (request_id req-1)",
        "box": {"status": 403, "code": "access_denied", "message": "no access", "request_id": "req-1"},
    }
    local = error_document(QueueTimeout("waited 60 s for a download slot"))
    assert (local["type"], local["message"]) == ("QueueTimeout", "waited 60 s for a download slot")
    assert "box" not in local


def test_a_refused_download_shows_in_status_json_and_reaches_the_reader(tmp_path: Path) -> None:
    box = FakeBox()
    box.refuse_create = Forbidden(403, "access_denied_insufficient_permissions", "not yours", "r9")
    docs = box.folder("Docs")
    with mount_view(tmp_path, box) as view:
        view.mkdir("/r")
        define(view, "/r", spec_for(("folder", docs)))
        assert refusal(lambda: read_all(view.open("/r/request.zip", False, False))) == "EACCES"
        doc = json.loads(read_all(view.open("/r/status.json", False, False)))
        assert doc["phase"] == "failed"
        assert (doc["error"]["errno"], doc["error"]["box"]["code"]) == (
            "EACCES",
            "access_denied_insufficient_permissions",
        )


def test_status_json_never_holds_the_download_or_status_url(tmp_path: Path) -> None:
    box = FakeBox()
    docs = box.folder("Docs")
    box.file("a", b"x" * 1000, docs)
    with mount_view(tmp_path, box) as view:
        view.mkdir("/r")
        define(view, "/r", spec_for(("folder", docs)))
        read_all(view.open("/r/request.zip", False, False))
        for data in (
            read_all(view.open("/r/status.json", False, False)),
            view.getxattr("/r/request.zip", "user.boxzipfs.status"),
        ):
            assert b"fake://" not in data and json.loads(data)["phase"] == "succeeded"

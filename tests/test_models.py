"""Request validation and the errno table."""

from __future__ import annotations

import errno
import json

import pytest

from boxzipfs import errors
from boxzipfs.drive.errnos import errno_for
from boxzipfs.models import ZipItem, check_request_prefix, parse_request_spec


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_valid_request_json_with_local_options() -> None:
    spec = parse_request_spec(
        body(items=[{"type": "folder", "id": "12"}], download_file_name="Q1", allow_skips=True)
    )
    assert spec.request.items == (ZipItem("folder", "12"),)
    assert spec.request.download_file_name == "Q1"
    assert (spec.allow_skips, spec.wait_for_size) == (True, None)
    assert parse_request_spec(spec.dumps()) == spec


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"not json", errors.RequestInvalid, "not valid JSON"),
        (b"[1]", errors.RequestInvalid, "JSON object"),
        (body(items=[]), errors.RequestInvalid, "non-empty"),
        (body(items=[{"type": "web_link", "id": "1"}]), errors.RequestInvalid, "'file' or 'folder'"),
        (body(items=[{"type": "file", "id": 12}]), errors.RequestInvalid, "string of digits"),
        (body(items=[{"type": "file", "id": "1"}], allow_skip=True), errors.RequestInvalid, "unknown keys"),
        (
            body(items=[{"type": "file", "id": "1"}], allow_skips="yes"),
            errors.RequestInvalid,
            "true or false",
        ),
        (
            body(items=[{"type": "file", "id": str(i)} for i in range(10_001)]),
            errors.RequestTooLarge,
            "10000",
        ),
        (b" " * (1 << 20) + b"{}", errors.RequestTooLarge, "1 MiB"),
    ],
)
def test_bad_request_json_is_refused_with_a_clear_message(
    data: bytes, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        parse_request_spec(data)


def test_prefix_check_passes_unfinished_json_and_refuses_the_rest() -> None:
    whole = body(items=[{"type": "file", "id": "1"}], download_file_name="résumé")
    for cut in range(1, len(whole)):
        check_request_prefix(whole[:cut])
    check_request_prefix(whole)
    for bad in (b"garbage", b'{"items": []}', b'{"items": [{"type": "file", "id": "1"}]} x'):
        with pytest.raises(errors.RequestInvalid):
            check_request_prefix(bad)


def test_item_parse() -> None:
    assert ZipItem.parse("file:42") == ZipItem("file", "42")
    with pytest.raises(errors.RequestInvalid):
        ZipItem.parse("folder:abc")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.Unauthorized(401, "unauthorized", "m"), errno.EACCES),
        (errors.Forbidden(403, "forbidden", "m"), errno.EACCES),
        (errors.AuthError("no token"), errno.EACCES),
        (errors.NotFound(404, "not_found", "m"), errno.ENOENT),
        (errors.api_error(400, "zip_download_file_count_exceeded_limit", "m"), errno.EFBIG),
        (errors.api_error(400, "zip_download_pre_compressed_bytes_exceeded_limit", "m"), errno.EFBIG),
        (errors.api_error(400, "bad_request", "m"), errno.EINVAL),
        (errors.RequestTooLarge("big"), errno.EFBIG),
        (errors.RequestInvalid("bad"), errno.EINVAL),
        (errors.QueueTimeout("429s"), errno.EAGAIN),
        (errors.api_error(503, "unavailable", "m"), errno.EIO),
        (errors.StreamBroken("cut"), errno.EIO),
        (errors.NetworkError("down"), errno.EIO),
        (errors.ArchiveIncomplete("skips"), errno.EIO),
        (RuntimeError("bug"), errno.EIO),
    ],
)
def test_errno_table(exc: BaseException, code: int) -> None:
    assert errno_for(exc) == code


def test_refusals_carry_their_own_errno() -> None:
    assert errno_for(errors.Refused(errno.EBUSY, "busy")) == errno.EBUSY

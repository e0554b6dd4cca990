"""The local server speaks Box's auth flows: the authorize page and the code grant, the JWT
bearer grant, As-User, and users/me, folders/{id}, files/{id}."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from boxzipfs.client.jwt_auth import load_app_config
from boxzipfs.server.child import LocalServer
from tests.accounts import ALICE, BOB, ENTERPRISE, MALLORY, SERVICE, Enterprise, make_enterprise
from tests.conftest import StartServer
from tests.helpers import bearer, file_id

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture
def enterprise(tmp_path: Path) -> Enterprise:
    return make_enterprise(tmp_path, 53999)


@pytest.fixture
def box(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, enterprise: Enterprise
) -> LocalServer:
    return start_server(tree[0], "--users", str(enterprise.users_file))


def _consent(
    http: httpx.Client, server: LocalServer, e: Enterprise, choice: str, state: str = "s1"
) -> httpx.Response:
    form = {"response_type": "code", "client_id": e.client_id, "redirect_uri": e.redirect_uri, "state": state}
    page = http.get(f"{server.url}/api/oauth2/authorize", params=form)
    assert page.status_code == 200 and 'name="consent" value="grant"' in page.text
    assert SERVICE["login"] in page.text  # the account being granted
    return http.post(f"{server.url}/api/oauth2/authorize", data={**form, "consent": choice})


def _token(http: httpx.Client, server: LocalServer, **form: str) -> httpx.Response:
    return http.post(f"{server.url}/oauth2/token", data=form)


def test_grant_redirects_with_a_single_use_code_that_buys_a_refresh_token(
    box: LocalServer, enterprise: Enterprise, http: httpx.Client
) -> None:
    answer = _consent(http, box, enterprise, "grant", "xyz")
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(enterprise.redirect_uri + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["xyz"]
    code = query["code"][0]
    creds = {"client_id": enterprise.client_id, "client_secret": enterprise.client_secret}
    first = _token(
        http, box, grant_type="authorization_code", code=code, redirect_uri=enterprise.redirect_uri, **creds
    )
    assert first.status_code == 200, first.text
    assert first.json()["refresh_token"] and first.json()["access_token"]
    me = http.get(f"{box.url}/2.0/users/me", headers=bearer(first.json()["access_token"]))
    assert me.json()["id"] == SERVICE["id"] and me.json()["login"] == SERVICE["login"]
    again = _token(http, box, grant_type="authorization_code", code=code, **creds)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    wrong = {"client_id": enterprise.client_id, "client_secret": "nope"}
    wrong_secret = _token(http, box, grant_type="authorization_code", code=code, **wrong)
    assert wrong_secret.json()["error"] == "invalid_client"


def test_deny_redirects_access_denied_and_unregistered_redirects_are_refused_on_the_page(
    box: LocalServer, enterprise: Enterprise, http: httpx.Client
) -> None:
    denied = _consent(http, box, enterprise, "deny", "st")
    query = parse_qs(urlsplit(denied.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["st"] and "code" not in query
    for uri in (
        "http://127.0.0.1:1/callback",
        "https://evil.example/callback",
        enterprise.redirect_uri + "x",
    ):
        form = {"response_type": "code", "client_id": enterprise.client_id, "redirect_uri": uri, "state": "s"}
        for answer in (
            http.get(f"{box.url}/api/oauth2/authorize", params=form),
            http.post(f"{box.url}/api/oauth2/authorize", data={**form, "consent": "grant"}),
        ):
            assert answer.status_code == 400 and "location" not in answer.headers
            assert "redirect_uri" in answer.text
    unknown = http.get(f"{box.url}/api/oauth2/authorize", params={"client_id": "nobody", "redirect_uri": "x"})
    assert unknown.status_code == 400 and "location" not in unknown.headers


def _assertion(e: Enterprise, url: str, **claims: object) -> str:
    app = load_app_config(e.jwt_config)
    body = {"iss": e.client_id, "sub": ENTERPRISE, "box_sub_type": "enterprise", "aud": f"{url}/oauth2/token",
            "jti": secrets.token_urlsafe(16), "exp": int(time.time()) + 45, **claims}  # fmt: skip
    return jwt.encode(body, app.private_key, algorithm="RS256", headers={"kid": "kid1"})


def test_jwt_grant_checks_signature_audience_expiry_jti_and_subject(
    box: LocalServer, enterprise: Enterprise, http: httpx.Client
) -> None:
    creds = {"client_id": enterprise.client_id, "client_secret": enterprise.client_secret}

    def grant(assertion: str) -> httpx.Response:
        return _token(http, box, grant_type=JWT_GRANT, assertion=assertion, **creds)

    good = _assertion(enterprise, box.url)
    first = grant(good)
    assert first.status_code == 200, first.text
    assert "refresh_token" not in first.json()
    me = http.get(f"{box.url}/2.0/users/me", headers=bearer(first.json()["access_token"]))
    assert me.json()["id"] == SERVICE["id"]
    assert grant(good).json()["error"] == "invalid_grant"  # the same jti twice
    as_alice = grant(_assertion(enterprise, box.url, sub=ALICE["id"], box_sub_type="user"))
    me = http.get(f"{box.url}/2.0/users/me", headers=bearer(as_alice.json()["access_token"]))
    assert me.json()["id"] == ALICE["id"]
    other_key = serialization.load_pem_private_key(_fresh_key_pem(), None)
    refused = {
        "too far ahead": _assertion(enterprise, box.url, exp=int(time.time()) + 120),
        "expired": _assertion(enterprise, box.url, exp=int(time.time()) - 5),
        "wrong audience": _assertion(enterprise, box.url, aud="https://api.box.com/oauth2/token"),
        "other enterprise": _assertion(enterprise, box.url, sub="600"),
        "user of another enterprise": _assertion(enterprise, box.url, sub=MALLORY["id"], box_sub_type="user"),
        "wrong issuer": _assertion(enterprise, box.url, iss="someone"),
        "other key": jwt.encode(
            {
                "iss": enterprise.client_id,
                "sub": ENTERPRISE,
                "box_sub_type": "enterprise",
                "aud": f"{box.url}/oauth2/token",
                "jti": "x1",
                "exp": int(time.time()) + 30,
            },
            other_key,
            algorithm="RS256",
            headers={"kid": "kid1"},
        ),
    }
    for why, assertion in refused.items():
        answer = grant(assertion)
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant"), why


def _fresh_key_pem() -> bytes:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_as_user_is_honoured_for_admins_and_service_accounts_of_the_same_enterprise(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, enterprise: Enterprise, http: httpx.Client
) -> None:
    data = json.loads(enterprise.users_file.read_text())
    tokens = {"90": "svc-token", "7": "alice-token", "66": "mallory-token"}
    for user in data["users"]:
        user["tokens"] = [tokens[user["id"]]] if user["id"] in tokens else []
        if user["id"] == BOB["id"]:
            user["deny"] = ["photos"]
    enterprise.users_file.write_text(json.dumps(data))
    server = start_server(tree[0], "--users", str(enterprise.users_file))

    def me(token: str, as_user: str | None) -> httpx.Response:
        headers = bearer(token) | ({"As-User": as_user} if as_user else {})
        return http.get(f"{server.url}/2.0/users/me", headers=headers)

    assert me("svc-token", BOB["id"]).json()["id"] == BOB["id"]
    assert me("svc-token", None).json()["id"] == SERVICE["id"]
    assert me("alice-token", BOB["id"]).status_code == 403  # a plain user may not
    assert me("mallory-token", BOB["id"]).status_code == 403  # an admin of another enterprise
    assert me("svc-token", "12345").status_code == 403  # nobody
    photos = file_id(tree[0], "photos")
    as_bob = bearer("svc-token") | {"As-User": BOB["id"]}
    assert (
        http.get(f"{server.url}/2.0/folders/{photos}/items", headers=bearer("svc-token")).status_code == 200
    )
    assert (
        http.get(f"{server.url}/2.0/folders/{photos}/items", headers=as_bob).status_code == 404
    )  # Bob's rules


def test_users_me_folders_and_files_answer_as_box_documents(
    server: LocalServer, tree: tuple[Path, dict[str, bytes]], http: httpx.Client
) -> None:
    root, files = tree
    headers = bearer(server.token)
    me = http.get(f"{server.url}/2.0/users/me", headers=headers).json()
    assert me["type"] == "user" and me["id"] and me["login"] and "enterprise" not in me
    slim = http.get(f"{server.url}/2.0/users/me", params={"fields": "login"}, headers=headers).json()
    assert set(slim) == {"type", "id", "login"}
    readme = file_id(root, "docs/readme.txt")
    item = http.get(f"{server.url}/2.0/files/{readme}", headers=headers).json()
    assert item["sha1"] == hashlib.sha1(files["docs/readme.txt"]).hexdigest()
    assert item["size"] == len(files["docs/readme.txt"]) and item["name"] == "readme.txt"
    assert [e["name"] for e in item["path_collection"]["entries"]] == ["All Files", "docs"]
    assert item["parent"]["id"] == file_id(root, "docs")
    docs = http.get(f"{server.url}/2.0/folders/{file_id(root, 'docs')}", headers=headers).json()
    assert docs["type"] == "folder" and docs["item_collection"]["total_count"] == 3
    assert docs["size"] == sum(len(v) for k, v in files.items() if k.startswith("docs/"))
    top = http.get(f"{server.url}/2.0/folders/0", headers=headers).json()
    assert top["name"] == "All Files" and top["path_collection"]["total_count"] == 0
    assert http.get(f"{server.url}/2.0/files/{file_id(root, 'docs')}", headers=headers).status_code == 404
    assert http.get(f"{server.url}/2.0/folders/{readme}", headers=headers).status_code == 404
    assert http.get(f"{server.url}/2.0/files/abc", headers=headers).status_code == 405
    assert http.get(f"{server.url}/2.0/files/{readme}").status_code == 401

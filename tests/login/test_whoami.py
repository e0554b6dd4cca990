"""#19: JWT apps, As-User, and ``boxzipfs whoami`` telling a working setup from each broken
one (cause and fix, non-zero exit), against the embedded server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from boxzipfs.cli.whoami import Report, diagnose
from boxzipfs.client.auth import TokenRefused
from boxzipfs.errors import Forbidden
from tests.accounts import ALICE, BOB, MALLORY, SERVICE
from tests.conftest import StartServer
from tests.helpers import boxzipfs
from tests.login.conftest import Account
from tests.login.test_login import assert_no_secret, read_an_archive

Mount = Callable[..., Path]


def whoami(account: Account, *args: str, **env: str) -> tuple[int, dict[str, Any], str]:
    done = boxzipfs("whoami", "--json", "--api-url", account.server.url, *args, env=account.env(**env))
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout), done.stdout + done.stderr


def test_a_jwt_app_as_its_service_account_a_user_and_as_user(account: Account) -> None:
    jwt = str(account.enterprise.jwt_config)
    code, report, out = whoami(account, "--check", BOX_JWT_CONFIG=jwt)
    assert (code, report["ok"]) == (0, True), out
    assert report["user"]["id"] == SERVICE["id"] and report["auth_method"] == "JWT (enterprise)"
    assert report["enterprise"]["id"] == "500" and report["token_expires_in_seconds"] > 3000
    code, report, out = whoami(
        account, BOX_JWT_CONFIG=jwt, BOX_SUBJECT_TYPE="user", BOX_SUBJECT_ID=ALICE["id"]
    )
    assert (code, report["user"]["id"]) == (0, ALICE["id"]), out
    code, report, out = whoami(account, "--as-user", BOB["id"], "--check", BOX_JWT_CONFIG=jwt)
    assert (code, report["user"]["login"], report["as_user"]) == (0, BOB["login"], BOB["id"]), out
    assert_no_secret(account.enterprise.secrets(), out)


@pytest.mark.mount
def test_a_mount_with_a_jwt_app_acting_as_a_user(account: Account, mount: Mount, tmp_path: Path) -> None:
    env = {"BOX_JWT_CONFIG": str(account.enterprise.jwt_config), "BOX_AS_USER": BOB["id"]}
    mp = read_an_archive(mount, account, "--api-url", account.server.url, env=env)
    assert_no_secret(
        account.enterprise.secrets(), tmp_path / "mount.log", (mp / "r" / "status.json").read_text()
    )


def test_a_server_clock_ahead_is_followed_by_its_date_header(
    account: Account, start_server: StartServer
) -> None:
    ahead = start_server(account.root, "--users", str(account.enterprise.users_file), "--clock-offset", "600")
    done = boxzipfs("whoami", "--json", "--api-url", ahead.url,
                    env=account.env(BOX_JWT_CONFIG=str(account.enterprise.jwt_config)))  # fmt: skip
    assert done.returncode == 0 and json.loads(done.stdout)["user"]["id"] == SERVICE["id"], done.stdout


def _jwt_variant(account: Account, tmp_path: Path, **changes: str) -> str:
    data = json.loads(account.enterprise.jwt_config.read_text())
    data["boxAppSettings"].update({k: v for k, v in changes.items() if k != "publicKeyID"})
    if "publicKeyID" in changes:
        data["boxAppSettings"]["appAuth"]["publicKeyID"] = changes["publicKeyID"]
    path = tmp_path / "variant.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize(
    ("setup", "cause", "fix"),
    [
        (
            lambda a, t: {"BOX_ACCESS_TOKEN": "expired-developer-token"},
            "access token expired",
            "boxzipfs login",
        ),
        (
            lambda a, t: {"BOX_JWT_CONFIG": _jwt_variant(a, t, clientSecret="wrong")},
            "client ID or secret is wrong",
            "Configuration page",
        ),
        (
            lambda a, t: {"BOX_JWT_CONFIG": _jwt_variant(a, t, publicKeyID="revoked")},
            "not authorized in the enterprise",
            "Custom Apps Manager",
        ),
        (
            lambda a, t: {"BOX_JWT_CONFIG": str(a.enterprise.jwt_config), "BOX_AS_USER": MALLORY["id"]},
            f"refused to act for user {MALLORY['id']}",
            "as-user",
        ),
        (
            lambda a, t: {
                "BOX_CLIENT_ID": a.enterprise.client_id,
                "BOX_CLIENT_SECRET": a.enterprise.client_secret,
                "BOX_REFRESH_TOKEN_STORE": str(_spent_store(t)),
            },
            "refresh token was refused",
            "login",
        ),
        (lambda a, t: {}, "no Box credentials", "boxzipfs login"),
        (
            lambda a, t: {"BOX_JWT_CONFIG": str(t / "missing.json")},
            "cannot read the JWT app config",
            "credentials",
        ),
    ],
    ids=[
        "expired-token",
        "wrong-secret",
        "app-not-authorized",
        "as-user-refused",
        "spent-refresh-token",
        "no-credentials",
        "missing-app-config",
    ],
)
def test_whoami_names_the_cause_and_fix_of_each_broken_setup(
    account: Account, tmp_path: Path, setup: Callable[[Account, Path], dict[str, str]], cause: str, fix: str
) -> None:
    code, report, out = whoami(account, "--check", **setup(account, tmp_path))
    assert code == 1 and report["ok"] is False, out
    assert cause in report["cause"], report
    assert fix.lower() in report["fix"].lower(), report
    human = boxzipfs("whoami", "--api-url", account.server.url, env=account.env(**setup(account, tmp_path)))
    assert human.returncode == 1 and "FAILED:" in human.stdout and "fix:" in human.stdout
    assert_no_secret(account.enterprise.secrets(), out, human.stdout + human.stderr)


def _spent_store(tmp_path: Path) -> Path:
    store = tmp_path / "spent.json"
    store.write_text(json.dumps({"refresh_token": "used-once-already"}))
    return store


def test_whoami_names_unreachable_and_untrusted_servers(account: Account, start_server: StartServer,
                                                        tmp_path: Path) -> None:  # fmt: skip
    done = boxzipfs(
        "whoami", "--json", "--api-url", "http://127.0.0.1:9", env=account.env(BOX_ACCESS_TOKEN="t")
    )
    report = json.loads(done.stdout)
    assert (
        done.returncode == 1
        and "cannot reach http://127.0.0.1:9" in report["cause"]
        and "proxy" in report["fix"]
    )
    https = start_server(account.root, "--tls-self-signed", str(tmp_path / "tls"))
    done = boxzipfs("whoami", "--json", "--api-url", https.url, env=account.env(BOX_ACCESS_TOKEN=https.token))
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["cause"].startswith("TLS") and "--ca-file" in report["fix"]
    ca = str(tmp_path / "tls" / "ca.pem")
    trusted = boxzipfs(
        "whoami",
        "--json",
        "--api-url",
        https.url,
        "--ca-file",
        ca,
        env=account.env(BOX_ACCESS_TOKEN=https.token),
    )
    assert trusted.returncode == 0, trusted.stdout


def test_a_forbidden_call_without_as_user_reads_as_a_missing_scope() -> None:
    refusal = Forbidden(403, "access_denied_insufficient_permissions", "Access denied")
    cause, fix = diagnose(refusal, Report("OAuth 2.0 refresh token", "token store x", "https://api.box.com"))
    assert cause.startswith("a scope is missing") and "Read all files and folders" in fix


def test_a_jwt_expiry_refusal_reads_as_clock_skew() -> None:
    refusal = TokenRefused("token endpoint answered 400 invalid_grant: Please check the 'exp' claim", None)
    cause, fix = diagnose(refusal, Report("JWT (enterprise)", "app config x", "https://api.box.com"))
    assert cause.startswith("clock skew") and "timedatectl" in fix

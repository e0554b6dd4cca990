"""#19: ``boxzipfs login``: the authorization-code flow against the embedded server's
consent page, pasted (--no-browser) or in a real headless Chromium, then a mount that needs
nothing else; every failure is one line, a non-zero exit and nothing written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.accounts import SERVICE
from tests.helpers import boxzipfs, expected_members, file_id, zip_contents
from tests.login.conftest import Account

Mount = Callable[..., Path]


def consent(url: str, choice: str = "grant") -> str:
    """What a person does in the browser: load the page, press a button; where Box sent them."""
    with httpx.Client() as http:
        page = http.get(url)
        assert page.status_code == 200 and 'id="grant"' in page.text
        form = dict(parse_qs(urlsplit(url).query, keep_blank_values=True))
        answer = http.post(
            url.split("?", maxsplit=1)[0], data={k: v[0] for k, v in form.items()} | {"consent": choice}
        )
        assert answer.status_code == 302
        return str(answer.headers["location"])


def login(
    account: Account, paste: Callable[[str], str], *more: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], str]:
    """``boxzipfs login --no-browser``, pasting what ``paste`` makes of the printed URL."""
    argv = [sys.executable, "-m", "boxzipfs", "login", "--no-browser", "--api-url", account.server.url,
            "--redirect-port", str(account.enterprise.redirect_port), *more]  # fmt: skip
    environment = {**os.environ, **account.env(BOX_CLIENT_ID=account.enterprise.client_id,
                   BOX_CLIENT_SECRET=account.enterprise.client_secret), **(env or {})}  # fmt: skip
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=environment)  # fmt: skip
    assert process.stderr is not None and process.stdin is not None
    lines = []
    url = ""
    for line in process.stderr:
        lines.append(line)
        if "/api/oauth2/authorize?" in line:
            url = line.strip()
            break
    assert url, "".join(lines)
    pasted = paste(url)
    out, err = process.communicate(pasted + "\n", timeout=60)
    return subprocess.CompletedProcess(argv, process.returncode, out, "".join(lines) + err), pasted


def read_an_archive(mount: Mount, account: Account, *args: str, env: dict[str, str] | None = None) -> Path:
    mp = mount(*args, env=account.env(**(env or {})))
    (mp / "r").mkdir()
    docs = {"items": [{"type": "folder", "id": file_id(account.root, "docs")}]}
    (mp / "r" / "request.json").write_text(json.dumps(docs))
    assert zip_contents((mp / "r" / "request.zip").read_bytes()) == expected_members(account.root, "docs")
    return mp


def assert_no_secret(secrets: list[str], *places: str | Path) -> None:
    for place in places:
        text = place.read_text(errors="replace") if isinstance(place, Path) else place
        for secret in secrets:
            assert secret not in text, f"a secret reached {place if isinstance(place, Path) else 'output'}"
        assert "eyJ" not in text  # no JWT assertion or token of that shape either


@pytest.mark.mount
def test_login_pasted_then_a_mount_with_nothing_else_set(
    account: Account, mount: Mount, tmp_path: Path
) -> None:
    done, pasted = login(account, consent)
    assert done.returncode == 0, done.stderr
    assert f"logged in as {SERVICE['name']} ({SERVICE['login']})" in done.stdout
    config = account.config.read_text()
    store = account.config_home / "boxzipfs" / "refresh-token.json"
    secret_file = account.config_home / "boxzipfs" / "client-secret"
    assert f'client_id = "{account.enterprise.client_id}"' in config and str(store) in config
    assert account.enterprise.client_secret not in config  # kept in its own 0600 file
    for path in (store, secret_file, account.config):
        assert path.stat().st_mode & 0o777 == 0o600
    first_refresh = json.loads(store.read_text())["refresh_token"]
    code = parse_qs(urlsplit(pasted).query)["code"][0]

    whoami = boxzipfs("whoami", "--check", "--json", env=account.env())
    report = json.loads(whoami.stdout)
    assert whoami.returncode == 0 and report["ok"], whoami.stdout + whoami.stderr
    assert report["user"]["login"] == SERVICE["login"] and report["auth_method"] == "OAuth 2.0 refresh token"
    assert report["token_expires_in_seconds"] > 3000 and len(report["checked"]) == 2

    mp = read_an_archive(mount, account)  # the config file alone: api_url, client, store
    status = (mp / "r" / "status.json").read_text()
    shown = boxzipfs("config", "show", env=account.env())
    rotated = json.loads(store.read_text())["refresh_token"]
    assert rotated != first_refresh  # the chain moved on, and was stored
    secrets = [account.enterprise.client_secret, first_refresh, rotated, code]
    assert_no_secret(secrets, done.stdout, done.stderr, whoami.stdout, whoami.stderr, shown.stdout, status,
                     tmp_path / "mount.log")  # fmt: skip


@pytest.mark.parametrize(
    ("paste", "message"),
    [
        (lambda url: consent(url).replace("state=", "state=forged"), "state does not match"),
        (lambda url: consent(url, "deny"), "denied in the browser (access_denied)"),
        (
            lambda url: (
                consent(url).split("?")[0]
                + "?"
                + urlencode({"code": "bogus", "state": parse_qs(urlsplit(url).query)["state"][0]})
            ),
            "code exchange failed",
        ),
        (lambda url: "", "no redirect URL or code"),
    ],
    ids=["forged-state", "denied", "bad-code", "nothing-pasted"],
)
def test_a_failed_login_is_one_line_and_writes_nothing(
    account: Account, paste: Callable[[str], str], message: str
) -> None:
    done, _ = login(account, paste)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("boxzipfs: ") and message in last, done.stderr
    assert "Traceback" not in done.stderr
    assert not (account.config_home / "boxzipfs").exists()  # no store, no secret file, no config


@pytest.mark.mount
def test_login_with_a_redis_seeds_the_fleets_chain(
    account: Account, mount: Mount, redis_server: object
) -> None:
    url = redis_server.url  # type: ignore[attr-defined]
    done, _ = login(account, consent, env={"BOXZIPFS_REDIS_URL": url})
    assert done.returncode == 0, done.stderr
    assert "the fleet's Redis" in done.stdout
    assert not (account.config_home / "boxzipfs" / "refresh-token.json").exists()
    read_an_archive(mount, account, env={"BOXZIPFS_REDIS_URL": url})


@pytest.mark.mount
def test_login_in_a_real_headless_browser(account: Account, mount: Mount, tmp_path: Path) -> None:
    """``boxzipfs login`` opens "the browser" (a script that hands the URL to this test); a
    headless Chromium loads Box's consent page, presses Grant and follows the redirect to the
    login's loopback listener."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    handed = tmp_path / "url"
    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\nprintf '%s' \"$1\" > {handed}\n")
    browser.chmod(0o755)
    env = {**os.environ, **account.env(BOX_CLIENT_ID=account.enterprise.client_id,
           BOX_CLIENT_SECRET=account.enterprise.client_secret, BROWSER=f"{browser} %s")}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "boxzipfs", "login", "--api-url", account.server.url,
         "--redirect-port", str(account.enterprise.redirect_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    try:
        deadline = time.monotonic() + 30
        while not (handed.exists() and handed.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        driver.get(handed.read_text())
        assert SERVICE["login"] in driver.find_element(By.ID, "login").text
        driver.find_element(By.ID, "grant").click()
        out, err = process.communicate(timeout=60)
        assert "login received" in driver.find_element(By.TAG_NAME, "body").text
    finally:
        driver.quit()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert f"logged in as {SERVICE['name']}" in out
    read_an_archive(mount, account)

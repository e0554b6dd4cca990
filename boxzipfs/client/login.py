"""``boxzipfs login``: Box's OAuth 2.0 authorization-code flow, in a browser or pasted.

The authorize URL (with a random ``state``) opens in the user's browser; a listener
on loopback receives Box's redirect; the code is exchanged at the token endpoint
at once (Box's codes live 30 seconds) and the refresh token is handed back to be
stored. Without a browser (``--no-browser``), the URL is printed and the redirect
URL (or the bare code) is pasted on standard input, as ``rclone authorize`` works
for headless servers. authlib builds the authorize URL and checks the redirect
(its ``state``, its ``code``); the exchange goes through the same httpx client as
every other call (the same CA, proxy and API budget).
"""

from __future__ import annotations

import http.server
import logging
import threading
import webbrowser
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.parameters import parse_authorization_code_response, prepare_grant_uri

from boxzipfs.client.auth import token_request
from boxzipfs.errors import AuthError
from boxzipfs.options import DEFAULT_API_URL

log = logging.getLogger(__name__)
BOX_AUTHORIZE_URL = "https://account.box.com/api/oauth2/authorize"
DEFAULT_REDIRECT_PORT = 53682 + 18  # 53700: beside rclone's 53682, not on it
CALLBACK_PATH = "/callback"
WAIT_SECONDS = 300.0  # for the browser's redirect


class LoginFailed(AuthError):
    """The login did not end with a refresh token; nothing was written."""


def authorize_endpoint(api_url: str) -> str:
    """Box's authorize page (on account.box.com), or the embedded server's own."""
    api = api_url.rstrip("/")
    return BOX_AUTHORIZE_URL if api == DEFAULT_API_URL else f"{api}/api/oauth2/authorize"


def redirect_uri(port: int) -> str:
    """The redirect URI to register in the app's configuration (Box matches it exactly)."""
    return f"http://127.0.0.1:{port}{CALLBACK_PATH}"


class _Callback(http.server.BaseHTTPRequestHandler):
    """Takes the first request to the callback path and answers the browser in words."""

    received: list[str]
    arrived: threading.Event

    def do_GET(self) -> None:
        if urlsplit(self.path).path != CALLBACK_PATH:
            self.send_error(404)
            return
        query = parse_qs(urlsplit(self.path).query)
        denied = "error" in query
        body = (
            "boxzipfs: the login was not granted; see the terminal."
            if denied
            else "boxzipfs: login received. You can close this window."
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if not self.arrived.is_set():
            self.received.append(self.path)
            self.arrived.set()

    def log_message(self, format: str, *args: Any) -> None:  # the URL holds the code: never logged
        return


def _listen(port: int) -> tuple[http.server.HTTPServer, list[str], threading.Event]:
    received: list[str] = []
    arrived = threading.Event()
    handler = type("Callback", (_Callback,), {"received": received, "arrived": arrived})
    try:
        server = http.server.HTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise LoginFailed(
            f"cannot listen on 127.0.0.1:{port} for Box's redirect ({exc.strerror}): "
            "choose another --redirect-port (and register it in the app)"
        ) from None
    threading.Thread(target=server.serve_forever, name="login-callback", daemon=True).start()
    return server, received, arrived


def _code_from(answer: str, uri: str, state: str) -> str:
    """The code of a redirect URL (checked: no error, the state sent) or of a bare code."""
    answer = answer.strip()
    if not answer:
        raise LoginFailed("no redirect URL or code was given")
    if "=" not in answer and "?" not in answer:
        return answer  # the bare code, copied by the user: no state to compare
    if answer.startswith("/"):
        answer = uri.split(CALLBACK_PATH, maxsplit=1)[0] + answer
    query = parse_qs(urlsplit(answer).query)
    if "error" in query:
        error = query["error"][0]
        if error == "access_denied":
            raise LoginFailed("the login was denied in the browser (access_denied): nothing was stored")
        raise LoginFailed(f"Box refused the login: {error}")
    try:
        return str(parse_authorization_code_response(answer, state=state)["code"])
    except OAuth2Error as exc:
        if exc.error == "mismatching_state":
            raise LoginFailed(
                "the redirect's state does not match this login's (an old or forged redirect): "
                "nothing was stored"
            ) from None
        raise LoginFailed(f"the redirect holds no code ({exc.error})") from None


def login(
    http: httpx.Client,
    api_url: str,
    client_id: str,
    client_secret: str,
    port: int,
    browser: bool,
    say: Callable[[str], None],
    read_pasted: Callable[[], str],
    wait_seconds: float = WAIT_SECONDS,
) -> dict[str, Any]:
    """Run the flow; Box's token answer (with ``refresh_token``), or LoginFailed."""
    uri = redirect_uri(port)
    state = generate_token(32)
    url = prepare_grant_uri(authorize_endpoint(api_url), client_id, "code", redirect_uri=uri, state=state)
    if browser:
        server, received, arrived = _listen(port)
        try:
            opened = webbrowser.open(url)
            say(
                "Log in to Box in the browser window that opened."
                if opened
                else "No browser could be opened here. Open this URL in a browser on this machine:"
            )
            if not opened:
                say(url)
            say(f"Waiting for Box's redirect to {uri} ...")
            if not arrived.wait(wait_seconds):
                raise LoginFailed(f"no redirect from Box in {wait_seconds:.0f} s: run boxzipfs login again")
            answer = received[0]
        finally:
            server.shutdown()
            server.server_close()
    else:
        say("Open this URL in a browser, log in and grant access:")
        say(url)
        say(f"Then paste the address the browser was sent to (it starts with {uri}), or the code:")
        answer = read_pasted()
    code = _code_from(answer, uri, state)
    token_url = f"{api_url.rstrip('/')}/oauth2/token"
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": uri,
    }
    try:
        answer_json = token_request(http, token_url, form)
    except AuthError as exc:
        raise LoginFailed(f"the code exchange failed ({exc}); codes live 30 seconds: log in again") from None
    if not answer_json.get("refresh_token"):
        raise LoginFailed("Box answered the code exchange without a refresh token")
    return answer_json

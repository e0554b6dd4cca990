"""The authorize page of the local server: Box's consent step as a plain HTML form.

Grant and Deny post the form back to ``/api/oauth2/authorize``, which redirects
to the app's registered redirect URI. Everything shown is escaped.
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Grant access to Box</title></head>
<body>
<h1>Grant access to Box</h1>
<p>The application <b>{client}</b> asks to read and write the files of <b id="login">{login}</b>.</p>
<form method="post" action="/api/oauth2/authorize">
<input type="hidden" name="response_type" value="code">
<input type="hidden" name="client_id" value="{client}">
<input type="hidden" name="redirect_uri" value="{redirect_uri}">
<input type="hidden" name="state" value="{state}">
<button type="submit" name="consent" value="grant" id="grant">Grant access to Box</button>
<button type="submit" name="consent" value="deny" id="deny">Deny</button>
</form>
</body></html>
"""

_ERROR = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Box: {error}</title></head>
<body><h1>{error}</h1><p id="error">{description}</p></body></html>
"""


def page(client_id: str, login: str, redirect_uri: str, state: str) -> HTMLResponse:
    values = {"client": client_id, "login": login, "redirect_uri": redirect_uri, "state": state}
    return HTMLResponse(_PAGE.format(**{k: escape(v, quote=True) for k, v in values.items()}))


def error_page(error: str, description: str) -> HTMLResponse:
    """An error shown on the page itself: the app's redirect URI is not trusted with it."""
    body = _ERROR.format(error=escape(error), description=escape(description))
    return HTMLResponse(body, status_code=400)

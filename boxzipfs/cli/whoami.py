"""``boxzipfs whoami``: who the credentials are, and (``--check``) whether a mount would work.

It asks Box who the user is (``GET /2.0/users/me``); ``--check`` then lists the
root folder, and creates and reads a zip of one small file, which proves every
scope a mount needs. A failure is one finding: the step that failed, its cause
and its fix, so a cron job's owner learns what to change before the job runs.
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

from boxzipfs.client.box import BoxClient
from boxzipfs.errors import (
    AuthError,
    BoxAPIError,
    BoxZipError,
    Forbidden,
    NetworkError,
    NotFound,
    TooManyRequests,
    Unauthorized,
    UntrustedServer,
)
from boxzipfs.models import ZipItem, ZipRequest

CHECK_FILE_LIMIT = 1 << 20  # --check zips a file this small at most
CHECK_FOLDERS = 5  # folders listed while looking for one


@dataclass
class Report:
    """What ``whoami`` found; ``cause`` and ``fix`` are set when a step failed."""

    method: str
    source: str
    api_url: str
    as_user: str | None = None
    user: dict[str, Any] = field(default_factory=dict)
    token_expires_in: float | None = None
    checked: list[str] = field(default_factory=list)
    failed_step: str | None = None
    cause: str | None = None
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.cause is None

    def to_json(self) -> dict[str, Any]:
        enterprise = self.user.get("enterprise") or {}
        return {
            "ok": self.ok,
            "user": {k: self.user.get(k) for k in ("id", "name", "login")} if self.user else None,
            "enterprise": {k: enterprise.get(k) for k in ("id", "name")} if enterprise else None,
            "as_user": self.as_user,
            "auth_method": self.method,
            "credentials_from": self.source,
            "api_url": self.api_url,
            "token_expires_in_seconds": None if self.token_expires_in is None else int(self.token_expires_in),
            "checked": self.checked,
            "failed_step": self.failed_step,
            "cause": self.cause,
            "fix": self.fix,
        }

    def lines(self) -> list[str]:
        out = []
        if self.user:
            enterprise = self.user.get("enterprise") or {}
            out.append(f"user:        {self.user.get('name')} (ID {self.user.get('id')})")
            out.append(f"login:       {self.user.get('login')}")
            out.append(
                f"enterprise:  {enterprise.get('name')} (ID {enterprise.get('id')})" if enterprise
                else "enterprise:  none"
            )  # fmt: skip
        if self.as_user:
            out.append(f"as user:     {self.as_user} (As-User)")
        out.append(f"auth:        {self.method}")
        out.append(f"credentials: {self.source}")
        out.append(f"api:         {self.api_url}")
        if self.token_expires_in is not None:
            minutes = int(self.token_expires_in // 60)
            out.append(f"token:       expires in {minutes} min (renewed automatically)")
        out.extend(f"ok:          {step}" for step in self.checked)
        if not self.ok:
            out.append(f"FAILED:      {self.failed_step}: {self.cause}")
            out.append(f"fix:         {self.fix}")
        return out


def diagnose(exc: BaseException, report: Report) -> tuple[str, str]:
    """The cause of a failure and its fix, in words a user can act on."""
    text = str(exc)
    jwt = report.method.startswith("JWT")
    if isinstance(exc, UntrustedServer):
        return (
            f"TLS: {text}",
            "install the CA that signs the server's certificate the system way "
            "(update-ca-certificates), or give --ca-file FILE",
        )
    if isinstance(exc, NetworkError):
        return (
            f"cannot reach {report.api_url}: {text}",
            "check the network, the proxy (--proxy or HTTPS_PROXY) and --api-url",
        )
    expired = (
        "the access token expired or is not valid (developer tokens last 60 minutes)",
        "make a new one in the developer console, or run `boxzipfs login` for one that renews itself",
    )
    if isinstance(exc, AuthError):
        if report.method == "access token" and "rejected the access token" in text:
            return expired
        if "no Box credentials" in text:
            return text, "run `boxzipfs login` (an OAuth app), or set BOX_JWT_CONFIG (a JWT app)"
        if jwt and "'exp'" in text:
            return (
                f"clock skew: Box refused the JWT assertion's expiry time ({text})",
                "set this machine's clock (timedatectl set-ntp true, or chrony); "
                "an assertion is valid for at most 60 seconds by Box's clock",
            )
        if "invalid_client" in text:
            return (
                f"the client ID or secret is wrong ({text})",
                "copy both again from the app's Configuration page in Box's developer console",
            )
        if "unauthorized_client" in text or (
            "invalid_grant" in text and (jwt or report.method.startswith("client credentials"))
        ):
            return (
                f"the app is not authorized in the enterprise, or the subject is wrong ({text})",
                "an admin authorizes the app in the Admin Console (Apps > Custom Apps Manager, "
                "by its client ID); check the enterprise or user ID it acts for",
            )
        if "invalid_grant" in text or "no refresh token" in text:
            return (
                f"the refresh token was refused: used already, revoked, or unused for 60 days ({text})",
                "run `boxzipfs login` again",
            )
        return text, "check the credentials (boxzipfs config show)"
    if isinstance(exc, Unauthorized):
        if report.method == "access token":
            return expired
        return "Box refused the new access token", "run `boxzipfs login` again, or check the app's settings"
    if isinstance(exc, Forbidden):
        if report.as_user:
            return (
                f"Box refused to act for user {report.as_user} ({text})",
                "As-User needs an admin's or a service account's credentials of that user's enterprise, "
                "and the app's 'Make API calls using the as-user header' advanced feature",
            )
        return (
            f"a scope is missing: Box refused the call ({text})",
            "enable 'Read all files and folders stored in Box' in the app's Configuration, then "
            "authorize again (`boxzipfs login`, or the admin re-authorizes a JWT app)",
        )
    if isinstance(exc, TooManyRequests):
        return f"Box is rate limiting these credentials ({text})", "wait a minute and try again"
    if isinstance(exc, BoxAPIError):
        return f"Box answered {exc.status} {exc.code}: {text}", "try again later; if it persists, ask Box"
    return text, "see the message"


def _find_small_file(client: BoxClient) -> tuple[str, str] | None:
    """A file of at most CHECK_FILE_LIMIT bytes (ID, name), looking through a few folders."""
    folders, listed = ["0"], 0
    while folders and listed < CHECK_FOLDERS:
        folder = folders.pop(0)
        listed += 1
        for entry in client.list_folder(folder, "name,size"):
            if entry.type == "file" and (entry.size or 0) <= CHECK_FILE_LIMIT:
                return entry.id, entry.name
            if entry.type == "folder":
                folders.append(entry.id)
    return None


def _zip_one(client: BoxClient, file_id: str, name: str) -> int:
    """Create and read a zip of one file; its size, after the archive proved whole."""
    download = client.create_zip_download(ZipRequest((ZipItem("file", file_id),), "boxzipfs-whoami-check"))
    with client.open_content(download) as stream:
        data = b"".join(stream)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if archive.testzip() is not None or not archive.namelist():
            raise BoxAPIError(200, "bad_archive", f"the zip of {name} is not a whole archive")
    return len(data)


def whoami(client: BoxClient, report: Report, check: bool) -> Report:
    """Fill ``report``: the user, then with ``check`` a listing and a one-file zip."""
    step = "who am I (GET /2.0/users/me)"
    try:
        report.user = client.users_me()
        expires = getattr(client.auth, "expires_at", None)
        report.token_expires_in = None if expires is None else max(0.0, expires - time.time())
        if not check:
            return report
        step = "list the root folder (GET /2.0/folders/0/items)"
        found = _find_small_file(client)
        report.checked.append("listed the root folder")
        if found is None:
            report.checked.append("no file of 1 MiB or less in the first folders: the zip check was skipped")
            return report
        step = f"zip one file ({found[1]}, ID {found[0]})"
        size = _zip_one(client, *found)
        report.checked.append(f"created and read a zip of {found[1]} ({size} bytes)")
    except (BoxZipError, NotFound) as exc:
        report.failed_step = step
        report.cause, report.fix = diagnose(exc, report)
    return report

"""JWT server authentication from a Box app config file (Box's developer console
downloads it as JSON).

Each token is bought with a fresh RS256 assertion: ``iss`` the client ID, ``sub``
the enterprise (the app's service account) or a user, ``box_sub_type`` saying
which, ``aud`` the token URL, a unique ``jti``, ``exp`` 45 seconds ahead (Box
allows at most 60), ``kid`` the public key's ID. Box refuses an ``exp`` that its
own clock reads as too far ahead or past: the assertion is then made once more on
Box's time, taken from the refusal's ``Date`` header, as Box's SDKs do. The key,
its passphrase and the assertions live only in memory and never in a message.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from boxzipfs.client.auth import TokenRefused, _OAuthAuth
from boxzipfs.errors import AuthError

log = logging.getLogger(__name__)
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AHEAD = 45  # seconds an assertion is valid; Box allows at most 60


@dataclass(frozen=True)
class AppConfig:
    """What the JWT flow takes from Box's app config file."""

    client_id: str
    client_secret: str = field(repr=False)
    key_id: str
    private_key: RSAPrivateKey = field(repr=False)
    enterprise_id: str


def load_app_config(path: Path) -> AppConfig:
    """Read and check an app config file; AuthError says what is wrong, never what it holds."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise AuthError(f"cannot read the JWT app config {path}: {exc.strerror}") from None
    except ValueError:
        raise AuthError(f"the JWT app config {path} is not JSON") from None
    try:
        settings = data["boxAppSettings"]
        auth = settings["appAuth"]
        client_id, client_secret = str(settings["clientID"]), str(settings["clientSecret"])
        key_id, pem = str(auth["publicKeyID"]), str(auth["privateKey"])
        passphrase = auth.get("passphrase") or None
        enterprise_id = str(data.get("enterpriseID") or "")
    except (KeyError, TypeError):
        raise AuthError(
            f"the JWT app config {path} lacks boxAppSettings.clientID, clientSecret or "
            "appAuth.publicKeyID/privateKey: download it again from the app's Configuration page"
        ) from None
    try:
        key = serialization.load_pem_private_key(pem.encode(), passphrase.encode() if passphrase else None)
    except (ValueError, TypeError):
        raise AuthError(
            f"cannot open the private key of {path}: wrong passphrase, or not a PEM private key"
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise AuthError(f"the private key of {path} is not an RSA key (Box's JWT apps use RS256)")
    return AppConfig(client_id, client_secret, key_id, key, enterprise_id)


class JWTAuth(_OAuthAuth):
    """Box's JWT bearer grant, for the enterprise's service account or one user."""

    def __init__(
        self,
        http: httpx.Client,
        token_url: str,
        app: AppConfig,
        subject_type: str = "enterprise",
        subject_id: str | None = None,
    ) -> None:
        super().__init__(http, token_url)
        if subject_type not in ("enterprise", "user"):
            raise AuthError("the JWT subject type must be 'enterprise' or 'user'")
        subject = subject_id or (app.enterprise_id if subject_type == "enterprise" else "")
        if not subject:
            raise AuthError(
                "the JWT app config has no enterpriseID: set BOX_SUBJECT_TYPE=user and BOX_SUBJECT_ID"
            )
        self._app = app
        self._subject = (subject_type, subject)
        self._skew = 0.0  # Box's clock minus ours, learnt from a refusal's Date header

    def _assertion(self) -> str:
        now = time.time() + self._skew
        claims: dict[str, Any] = {
            "iss": self._app.client_id,
            "sub": self._subject[1],
            "box_sub_type": self._subject[0],
            "aud": self._token_url,
            "jti": secrets.token_urlsafe(32),
            "exp": int(now) + AHEAD,
            "iat": int(now),
        }
        return jwt.encode(claims, self._app.private_key, algorithm="RS256", headers={"kid": self._app.key_id})

    def _form(self) -> dict[str, str]:
        return {
            "grant_type": JWT_GRANT,
            "assertion": self._assertion(),
            "client_id": self._app.client_id,
            "client_secret": self._app.client_secret,
        }

    def _fetch(self) -> str:
        try:
            return super()._fetch()
        except TokenRefused as exc:
            if "'exp'" not in str(exc) or not exc.date or self._skew:
                raise
            try:
                box_now = parsedate_to_datetime(exc.date).timestamp()
            except (TypeError, ValueError):
                raise exc from None
            self._skew = box_now - time.time()
            log.info("JWT: Box's clock is %.0f s from this machine's; assertions follow Box's", self._skew)
            try:
                return super()._fetch()  # once more, on Box's clock
            except AuthError:
                self._skew = 0.0
                raise exc from None

    @property
    def clock_skew(self) -> float:
        """Seconds Box's clock was found ahead of this machine's (0 if never needed)."""
        return self._skew

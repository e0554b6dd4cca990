"""A Box enterprise for the auth tests: users, an OAuth app with a redirect URI, and a JWT
app whose config file is what Box's developer console downloads (an encrypted key)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ENTERPRISE = "500"
SERVICE = {"id": "90", "name": "service", "login": "AutomationUser_90@boxdevedition.com",
           "enterprise_id": ENTERPRISE, "role": "service"}  # fmt: skip
ALICE = {"id": "7", "name": "alice", "login": "alice@example.com", "enterprise_id": ENTERPRISE}
BOB = {"id": "8", "name": "bob", "login": "bob@example.com", "enterprise_id": ENTERPRISE}
MALLORY = {"id": "66", "name": "mallory", "login": "mallory@other.example", "enterprise_id": "600",
           "role": "admin"}  # fmt: skip


@dataclass
class Enterprise:
    users_file: Path
    client_id: str
    client_secret: str
    redirect_port: int
    jwt_config: Path
    passphrase: str
    private_pem: str

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.redirect_port}/callback"

    def secrets(self) -> list[str]:
        """Every secret of this enterprise that must never show anywhere."""
        key_body = "".join(self.private_pem.splitlines()[1:-1])
        return [self.client_secret, self.passphrase, key_body[:64], key_body[-64:]]


def make_enterprise(
    directory: Path, redirect_port: int, users: list[dict[str, str]] | None = None
) -> Enterprise:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    passphrase = secrets.token_urlsafe(12)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    client_id = "app" + secrets.token_hex(8)
    client_secret = secrets.token_urlsafe(24)
    users_file = directory / "users.json"
    users_file.write_text(json.dumps({
        "users": users if users is not None else [SERVICE, ALICE, BOB, MALLORY],
        "clients": [{
            "client_id": client_id, "client_secret": client_secret, "user_id": SERVICE["id"],
            "enterprise_id": ENTERPRISE, "redirect_uris": [f"http://127.0.0.1:{redirect_port}/callback"],
            "jwt_public_keys": {"kid1": public_pem},
        }],
    }))  # fmt: skip
    jwt_config = directory / "box_config.json"
    jwt_config.write_text(json.dumps({
        "boxAppSettings": {
            "clientID": client_id, "clientSecret": client_secret,
            "appAuth": {"publicKeyID": "kid1", "privateKey": private_pem, "passphrase": passphrase},
        },
        "enterpriseID": ENTERPRISE,
    }))  # fmt: skip
    jwt_config.chmod(0o600)
    return Enterprise(
        users_file, client_id, client_secret, redirect_port, jwt_config, passphrase, private_pem
    )

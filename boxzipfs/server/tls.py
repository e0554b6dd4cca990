"""HTTPS for ``boxzipfs serve``: a certificate and key given, or a throw-away pair made with
trustme (a CA of its own, and a certificate for the loopback names signed by it)."""

from __future__ import annotations

import os
from pathlib import Path

import trustme

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def self_signed(directory: Path, host: str) -> tuple[Path, Path, Path]:
    """Write ``ca.pem`` (the CA to trust), ``cert.pem`` (the server's chain) and ``key.pem``
    (mode 0600) into ``directory``; their paths, in that order."""
    directory.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA()
    names = sorted({host, *LOOPBACK_NAMES} - {"0.0.0.0", "::"})
    server = authority.issue_cert(*names)
    ca, cert, key = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    authority.cert_pem.write_to_path(str(ca))
    server.private_key_pem.write_to_path(str(key))
    os.chmod(key, 0o600)
    with cert.open("wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    return ca, cert, key

"""A server with an enterprise (users, an OAuth app, a JWT app) and a private config home."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from boxzipfs.server.child import LocalServer
from tests.accounts import Enterprise, make_enterprise
from tests.conftest import StartServer
from tests.helpers import free_port


@dataclass
class Account:
    server: LocalServer
    enterprise: Enterprise
    root: Path
    files: dict[str, bytes]
    config_home: Path

    def env(self, **more: str) -> dict[str, str]:
        """A user's environment: a private config home and nothing else of Box's."""
        return {"XDG_CONFIG_HOME": str(self.config_home), **more}

    @property
    def config(self) -> Path:
        return self.config_home / "boxzipfs" / "config.toml"


@pytest.fixture
def account(
    tree: tuple[Path, dict[str, bytes]],
    start_server: StartServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Account:
    enterprise = make_enterprise(tmp_path, free_port())
    server = start_server(tree[0], "--users", str(enterprise.users_file))
    for variable in ("BOX_ACCESS_TOKEN", "BOX_TOKEN_FILE", "BOX_CLIENT_ID", "BOX_CLIENT_SECRET",
                     "BOX_REFRESH_TOKEN_STORE", "BOX_JWT_CONFIG", "BOX_AS_USER"):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    return Account(server, enterprise, tree[0], tree[1], tmp_path / "config-home")

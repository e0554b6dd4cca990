"""JWTAuth against the real server: tokens minted again before they expire and after a 401,
token calls paced, and an app config that cannot be used refused in words without its secrets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from boxzipfs.client.auth import auth_from_env
from boxzipfs.client.jwt_auth import JWTAuth, load_app_config
from boxzipfs.client.pacing import ApiPacer
from boxzipfs.errors import AuthError
from tests.accounts import make_enterprise
from tests.conftest import StartServer


def test_tokens_are_minted_again_before_expiry_and_after_a_401(
    tree: tuple[Path, dict[str, bytes]], start_server: StartServer, tmp_path: Path
) -> None:
    enterprise = make_enterprise(tmp_path, 1)
    server = start_server(tree[0], "--users", str(enterprise.users_file), "--token-ttl", "32")
    pacer = ApiPacer(1000)
    with httpx.Client() as http:
        auth = auth_from_env(http, server.url, {"BOX_JWT_CONFIG": str(enterprise.jwt_config)}, pacer)
        assert isinstance(auth, JWTAuth)
        first = auth.token()
        assert auth.token() == first  # cached while valid
        time.sleep(2.5)  # 32 s tokens are renewed 30 s before they end
        second = auth.token()
        assert second != first
        third = auth.refresh(second)  # what a 401 leads to
        assert third not in (first, second)
        assert auth.refresh(second) == third  # another thread's 401 of the same token: no new grant
        me = http.get(f"{server.url}/2.0/users/me", headers={"Authorization": f"Bearer {third}"})
        assert me.status_code == 200
    assert pacer.snapshot()["calls"] == {"oauth2_token": 3}  # token calls count against the budget


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["boxAppSettings"]["appAuth"].update(passphrase="wrong"), "wrong passphrase"),
        (lambda d: d["boxAppSettings"].pop("clientID"), "lacks boxAppSettings.clientID"),
        (lambda d: d["boxAppSettings"]["appAuth"].update(privateKey="not a key"), "not a PEM private key"),
    ],
    ids=["passphrase", "missing-field", "not-a-key"],
)
def test_an_unusable_app_config_is_one_clear_message(tmp_path: Path, change: object, message: str) -> None:
    enterprise = make_enterprise(tmp_path, 1)
    data = json.loads(enterprise.jwt_config.read_text())
    change(data)  # type: ignore[operator]
    enterprise.jwt_config.write_text(json.dumps(data))
    with pytest.raises(AuthError) as caught:
        load_app_config(enterprise.jwt_config)
    assert message in str(caught.value)
    for secret in enterprise.secrets():
        assert secret not in str(caught.value) and secret not in repr(caught.value)

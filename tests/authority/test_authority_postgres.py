"""The same authority on PostgreSQL: login, rotation, revocation feed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jwtmesh.authority import create_app

from .helpers import Authority, ServerThread, make_settings, seed

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_authority(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authority]:
    """An authority whose database is PostgreSQL."""
    settings = make_settings(Path(tmp_path_factory.mktemp("pg")), database_url=pg_database)
    client_secrets = seed(settings)
    with ServerThread(create_app(settings)) as server:
        yield Authority(f"http://127.0.0.1:{server.port}", settings, client_secrets)


def test_login_refresh_and_reuse_on_postgres(pg_authority: Authority) -> None:
    session = pg_authority.login()
    form = {
        "grant_type": "refresh_token",
        "client_id": "shop-web",
        "refresh_token": session["refresh_token"],
    }
    assert pg_authority.token(form).status == 200
    again = pg_authority.token(form)
    assert again.status == 400 and again.json()["error"] == "invalid_grant"
    assert pg_authority.decode(session["access_token"], "users")["sub"] == "alice"


def test_revocation_feed_on_postgres(pg_authority: Authority) -> None:
    token = pg_authority.login()["access_token"]
    jti = pg_authority.decode(token, "orders")["jti"]
    basic = pg_authority.creds("admin-cli")
    assert (
        pg_authority.request("POST", "/oauth/revoke", data={"token": token}, basic=basic).status
        == 200
    )
    feed = pg_authority.request("GET", "/oauth/revocations?after=0", basic=basic).json()
    assert [e["jti"] for e in feed["events"]] == [jti]

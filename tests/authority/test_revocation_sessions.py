"""Session-wide revocation: logout, refresh-token revocation and reuse detection kill the family.

"The family" is every refresh token of one login and every access token
issued from it (they carry its id as ``sid``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jwtmesh.store import RefreshTokenRecord, SqlStore
from support.postgres import pg_database

from .helpers import Authority, Reply


def _refresh(authority: Authority, token: str) -> Reply:
    form = {"grant_type": "refresh_token", "client_id": "shop-web", "refresh_token": token}
    return authority.token(form)


def _active(authority: Authority, token: str) -> bool:
    reply = authority.request(
        "POST", "/oauth/introspect", data={"token": token}, basic=authority.creds("admin-cli")
    )
    assert reply.status == 200
    active: bool = reply.json()["active"]
    return active


def _feed(authority: Authority, after: int = 0) -> dict[str, Any]:
    reply = authority.request(
        "GET", f"/oauth/revocations?after={after}", basic=authority.creds("orders-svc")
    )
    assert reply.status == 200
    body: dict[str, Any] = reply.json()
    return body


def _cursor(authority: Authority) -> int:
    cursor: int = _feed(authority)["cursor"]
    return cursor


def _sid(authority: Authority, access_token: str) -> str:
    sid: str = authority.decode(access_token, None)["sid"]
    return sid


def _family(authority: Authority) -> tuple[dict[str, Any], dict[str, Any]]:
    """A login and its first rotation: two access tokens and two refresh tokens of one family."""
    first = authority.login()
    second = _refresh(authority, first["refresh_token"])
    assert second.status == 200
    return first, second.json()


def test_reuse_detection_refuses_the_family_refresh_and_access_tokens(
    authority: Authority,
) -> None:
    first, second = _family(authority)
    bystander = authority.login()
    cursor = _cursor(authority)
    time.sleep(authority.settings.refresh_reuse_grace + 0.2)
    reuse = _refresh(authority, first["refresh_token"])
    assert reuse.status == 400 and reuse.json()["error"] == "invalid_grant"
    live = _refresh(authority, second["refresh_token"])
    assert live.status == 400 and live.json()["error"] == "invalid_grant"
    assert not _active(authority, first["access_token"])
    assert not _active(authority, second["access_token"])
    assert _active(authority, bystander["access_token"])
    feed = _feed(authority, cursor)
    sid = _sid(authority, first["access_token"])
    assert [e.get("sid") for e in feed["events"]] == [sid]
    assert feed["events"][0]["exp"] >= time.time() + authority.settings.access_ttl - 5


def test_reuse_within_grace_keeps_the_session_alive(authority: Authority) -> None:
    first, second = _family(authority)
    cursor = _cursor(authority)
    retry = _refresh(authority, first["refresh_token"])  # a client retry, inside the window
    assert retry.status == 400 and retry.json()["error"] == "invalid_grant"
    assert _active(authority, first["access_token"]) and _active(authority, second["access_token"])
    assert _refresh(authority, second["refresh_token"]).status == 200
    assert _feed(authority, cursor)["events"] == []


def test_concurrent_refreshes_of_one_token_do_not_log_the_client_out(
    authority: Authority,
) -> None:
    session = authority.login()
    replies: list[Reply] = []
    start = threading.Barrier(2)

    def refresh() -> None:
        start.wait()
        replies.append(_refresh(authority, session["refresh_token"]))

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert sorted(r.status for r in replies) == [200, 400]
    winner = next(r for r in replies if r.status == 200).json()
    loser = next(r for r in replies if r.status == 400).json()
    assert loser["error"] == "invalid_grant"
    assert _active(authority, session["access_token"]) and _active(
        authority, winner["access_token"]
    )
    assert _refresh(authority, winner["refresh_token"]).status == 200


def test_revoked_refresh_token_takes_its_access_tokens_along(authority: Authority) -> None:
    first, second = _family(authority)
    form = {"token": second["refresh_token"], "token_type_hint": "refresh_token"}
    reply = authority.request("POST", "/oauth/revoke", data={**form, "client_id": "shop-web"})
    assert reply.status == 200
    again = _refresh(authority, second["refresh_token"])
    assert again.status == 400 and again.json()["error"] == "invalid_grant"
    assert not _active(authority, first["access_token"])
    assert not _active(authority, second["access_token"])


def test_logout_kills_every_access_token_of_the_session(authority: Authority) -> None:
    first, second = _family(authority)
    other = authority.login()
    cursor = _cursor(authority)
    reply = authority.request(
        "POST", "/logout", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert reply.status == 204
    assert not _active(authority, first["access_token"])
    assert not _active(authority, second["access_token"])
    assert _active(authority, other["access_token"])
    events = _feed(authority, cursor)["events"]
    jti = authority.decode(second["access_token"], None)["jti"]
    sid = _sid(authority, second["access_token"])
    assert {e.get("jti") or e.get("sid") for e in events} == {jti, sid}
    old = authority.request(
        "POST", "/logout", headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert old.status == 401 and old.json()["error"] == "invalid_token"


def test_token_exchange_of_a_revoked_session_is_refused(authority: Authority) -> None:
    session = authority.login()
    authority.request(
        "POST", "/logout", headers={"Authorization": f"Bearer {session['access_token']}"}
    )
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": session["access_token"],
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "audience": "users",
    }
    reply = authority.token(form, basic=authority.creds("orders-svc"))
    assert reply.status == 400 and reply.json()["error"] == "invalid_grant"


# -- the store, on both databases -------------------------------------------


@pytest.fixture(scope="module")
def own_pg() -> Iterator[str]:
    """A PostgreSQL database of this module's own (others read the feed from cursor 0)."""
    with pg_database("jwtmesh_sessions") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated store on each database (names below are unique per test)."""
    url = f"sqlite:///{tmp_path}/s.db"
    if request.param == "postgresql":
        url = request.getfixturevalue("own_pg")
    opened = SqlStore.open(url)
    yield opened
    opened.close()


def _token(store: SqlStore, family: str, token_hash: str) -> RefreshTokenRecord:
    name = f"u-{family}"
    user = store.get_user_by_name(name) or store.add_user(name, "h", ["customer"], 1.0)
    return RefreshTokenRecord(
        token_hash=token_hash,
        family_id=family,
        user_id=user.id,
        client_id="shop-web",
        audience=("orders",),
        scope="openid",
        issued_at=1.0,
        expires_at=1e12,
    )


def test_store_revokes_a_session_atomically_and_once(store: SqlStore) -> None:
    family = f"fam-{time.time_ns()}"
    store.add_refresh_token(_token(store, family, f"{family}-a"))
    store.add_refresh_token(_token(store, family, f"{family}-b"))
    before = store.last_event_id()
    first = store.revoke_session(family, exp=5000.0, now=100.0)
    assert first is not None and first > before
    assert store.is_session_revoked(family) and not store.is_session_revoked(family + "x")
    for suffix in ("a", "b"):
        record = store.get_refresh_token(f"{family}-{suffix}")
        assert record is not None and record.revoked
    assert store.revoke_session(family, exp=5000.0, now=101.0) is None
    later = store.revoke_session(family, exp=6000.0, now=102.0)  # extends: a new event
    events = store.events_after(before)
    assert [(e.kind, e.sid, e.jti, e.exp) for e in events] == [
        ("revoke_session", family, None, 5000.0),
        ("revoke_session", family, None, 6000.0),
    ]
    assert later == events[-1].id


def test_store_purges_expired_sessions_and_never_reuses_an_event_id(store: SqlStore) -> None:
    family = f"gone-{time.time_ns()}"
    store.revoke_session(family, exp=50.0, now=1.0)
    store.revoke_jti(f"{family}-jti", exp=60.0, now=1.0)
    last = store.last_event_id()
    assert store.purge_expired(now=100.0) >= 3
    assert not store.is_session_revoked(family)
    fresh = store.revoke_jti(f"{family}-new", exp=1e12, now=2.0)
    assert fresh is not None and fresh > last  # a cursor never points at a reused id

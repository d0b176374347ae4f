"""Authority.refresh and login in process, on SQLite and PostgreSQL.

Refresh consumes, checks and replaces a token in one transaction: a refused
refresh must leave the token usable, and reuse detection must still work.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jwtmesh.authority import build_authority
from jwtmesh.authority._clients import ClientCredentials
from jwtmesh.authority._errors import OAuthError
from jwtmesh.authority._secrets import hash_refresh_token
from jwtmesh.authority._service import Authority, TokenResponse
from jwtmesh.store import RefreshTokenRecord
from support.postgres import pg_database

from .helpers import PASSWORD, make_settings, seed

WEB = ClientCredentials("shop-web", None)
MOBILE = ClientCredentials("mobile-app", None)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def authority(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Authority]:
    """An in-process authority with a frozen clock, on a fresh database of each kind."""
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(pg_database("jwtmesh_fastpath"))
        settings = make_settings(tmp_path, url)
        seed(settings)
        authority = build_authority(settings)
        stack.callback(authority.store.close)
        now = time.time()
        authority.clock = lambda: now
        yield authority


def _login(authority: Authority) -> str:
    token = authority.login("alice", PASSWORD).refresh_token
    assert token is not None
    return token


def _refused(authority: Authority, token: str, creds: ClientCredentials = WEB) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        authority.refresh(creds, token, None)
    return caught.value


def _shift(authority: Authority, seconds: float) -> None:
    now = authority.clock() + seconds
    authority.clock = lambda: now


def _next(answer: TokenResponse) -> str:
    assert answer.refresh_token is not None
    return answer.refresh_token


def test_login_stores_the_refresh_token(authority: Authority) -> None:
    token = _login(authority)
    record = authority.store.get_refresh_token(hash_refresh_token(token))
    user = authority.store.get_user_by_name("alice")
    now = authority.clock()
    assert user is not None and record is not None
    assert record == RefreshTokenRecord(
        token_hash=hash_refresh_token(token),
        family_id=record.family_id,
        user_id=user.id,
        client_id="shop-web",
        audience=authority.settings.default_audiences,
        scope="openid profile",
        issued_at=now,
        expires_at=now + authority.settings.refresh_ttl,
    )


def test_refresh_rotates_within_the_family(authority: Authority) -> None:
    first = _login(authority)
    answer = authority.refresh(WEB, first, None)
    second = _next(answer)
    old = authority.store.get_refresh_token(hash_refresh_token(first))
    new = authority.store.get_refresh_token(hash_refresh_token(second))
    assert old is not None and new is not None
    assert old.used_at == authority.clock() and old.replaced_by == new.token_hash
    assert (new.family_id, new.scope, new.audience) == (old.family_id, old.scope, old.audience)
    assert answer.scope == "openid profile"
    claims = authority.verify_access_token(answer.access_token)
    assert claims["sub"] == "alice" and claims["sid"] == old.family_id
    assert claims["roles"] == ["customer"]


def test_reuse_within_grace_keeps_the_family(authority: Authority) -> None:
    first = _login(authority)
    second = _next(authority.refresh(WEB, first, None))
    error = _refused(authority, first)
    assert (error.error, error.description) == ("invalid_grant", "refresh token was already used")
    assert authority.refresh(WEB, second, None).refresh_token is not None


def test_reuse_after_grace_revokes_the_family(authority: Authority) -> None:
    first = _login(authority)
    second = _next(authority.refresh(WEB, first, None))
    _shift(authority, authority.settings.refresh_reuse_grace + 1)
    error = _refused(authority, first)
    assert (error.error, error.description) == ("invalid_grant", "refresh token was already used")
    stolen = _refused(authority, second)
    assert stolen.error == "invalid_grant" and "already used" not in stolen.description


def test_another_clients_refresh_leaves_the_token_usable(authority: Authority) -> None:
    token = _login(authority)
    assert authority.refresh(WEB, token, None).refresh_token is not None
    mobile = authority.login("alice", PASSWORD, client_id="mobile-app").refresh_token
    assert mobile is not None
    error = _refused(authority, mobile, WEB)
    assert (error.error, error.status) == ("invalid_grant", 400)
    record = authority.store.get_refresh_token(hash_refresh_token(mobile))
    assert record is not None and record.used_at is None and not record.revoked
    assert authority.refresh(MOBILE, mobile, None).refresh_token is not None


def test_refused_scope_leaves_the_token_usable(authority: Authority) -> None:
    token = _login(authority)
    with pytest.raises(OAuthError) as caught:
        authority.refresh(WEB, token, "openid admin")
    assert caught.value.error == "invalid_scope"
    narrowed = authority.refresh(WEB, token, "profile")
    assert narrowed.scope == "profile"
    again = authority.refresh(WEB, _next(narrowed), None)
    assert again.scope == "openid profile"  # the family keeps its scope


def test_expired_token_is_refused_and_not_consumed(authority: Authority) -> None:
    token = _login(authority)
    _shift(authority, authority.settings.refresh_ttl)
    error = _refused(authority, token)
    assert (error.error, error.description) == (
        "invalid_grant",
        "refresh token is invalid, expired or revoked",
    )
    _shift(authority, -1)
    assert authority.refresh(WEB, token, None).refresh_token is not None


def test_disabled_user_is_refused_and_token_not_consumed(authority: Authority) -> None:
    token = _login(authority)
    assert authority.store.set_user_disabled("alice", True)
    assert _refused(authority, token).error == "invalid_grant"
    assert authority.store.set_user_disabled("alice", False)
    assert authority.refresh(WEB, token, None).refresh_token is not None


def test_unknown_and_revoked_tokens_are_invalid_grant(authority: Authority) -> None:
    assert _refused(authority, "x" * 43).error == "invalid_grant"
    token = _login(authority)
    record = authority.store.get_refresh_token(hash_refresh_token(token))
    assert record is not None and authority.end_session(record.family_id)
    error = _refused(authority, token)
    assert (error.error, error.description) == (
        "invalid_grant",
        "refresh token is invalid, expired or revoked",
    )


def test_concurrent_refreshes_have_one_winner(authority: Authority) -> None:
    token = _login(authority)
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def refresh() -> None:
        start.wait()
        try:
            authority.refresh(WEB, token, None)
            outcomes.append("ok")
        except OAuthError as exc:
            outcomes.append(exc.error)

    threads = [threading.Thread(target=refresh) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["invalid_grant"] * 5 + ["ok"]
    record = authority.store.get_refresh_token(hash_refresh_token(token))
    assert record is not None and not record.revoked  # within grace: a retry, not a theft

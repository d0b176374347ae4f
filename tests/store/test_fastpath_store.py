"""SqlStore.redeem_refresh_token: consume, check and store the successor in one transaction."""

from __future__ import annotations

import threading

import pytest

from jwtmesh.store import RefreshTokenRecord, SqlStore, UserRecord

OLD = "a" * 64
NEW = "b" * 64


class Refused(Exception):
    """What a check raises to roll a redemption back."""


def _user_and_token(store: SqlStore) -> tuple[UserRecord, RefreshTokenRecord]:
    user = store.add_user("alice", "h", ["customer", "staff"], 1.0)
    token = RefreshTokenRecord(
        token_hash=OLD,
        family_id="fam-1",
        user_id=user.id,
        client_id="shop-web",
        audience=("gateway", "orders"),
        scope="orders profile",
        issued_at=10.0,
        expires_at=1000.0,
    )
    store.add_refresh_token(token)
    return user, token


def _accept(record: RefreshTokenRecord, user: UserRecord | None) -> str:
    return f"{record.family_id}:{user.username if user else None}"


def _refuse(record: RefreshTokenRecord, user: UserRecord | None) -> str:
    raise Refused(record.client_id)


def test_redeem_consumes_and_stores_the_successor(store: SqlStore) -> None:
    user, token = _user_and_token(store)
    seen: list[tuple[RefreshTokenRecord, UserRecord | None]] = []

    def check(record: RefreshTokenRecord, found: UserRecord | None) -> str:
        seen.append((record, found))
        return "granted"

    assert store.redeem_refresh_token(OLD, NEW, 20.0, 520.0, check) == "granted"
    used = store.get_refresh_token(OLD)
    assert used is not None and used.used_at == 20.0 and used.replaced_by == NEW
    assert seen == [(used, user)]
    successor = store.get_refresh_token(NEW)
    assert successor == RefreshTokenRecord(
        token_hash=NEW,
        family_id=token.family_id,
        user_id=user.id,
        client_id=token.client_id,
        audience=token.audience,
        scope=token.scope,
        issued_at=20.0,
        expires_at=520.0,
    )


def test_redeem_twice_returns_none_without_calling_check(store: SqlStore) -> None:
    _user_and_token(store)
    assert store.redeem_refresh_token(OLD, NEW, 20.0, 520.0, _accept) == "fam-1:alice"
    calls: list[str] = []

    def check(record: RefreshTokenRecord, user: UserRecord | None) -> str:
        calls.append(record.token_hash)
        return "no"

    assert store.redeem_refresh_token(OLD, "c" * 64, 21.0, 521.0, check) is None
    assert calls == []
    assert store.get_refresh_token("c" * 64) is None
    used = store.get_refresh_token(OLD)
    assert used is not None and used.used_at == 20.0 and used.replaced_by == NEW


def test_redeem_unknown_or_revoked_returns_none(store: SqlStore) -> None:
    _user_and_token(store)
    assert store.redeem_refresh_token("f" * 64, NEW, 20.0, 520.0, _accept) is None
    assert store.revoke_family("fam-1") == 1
    assert store.redeem_refresh_token(OLD, NEW, 20.0, 520.0, _accept) is None
    revoked = store.get_refresh_token(OLD)
    assert revoked is not None and revoked.used_at is None and revoked.revoked
    assert store.get_refresh_token(NEW) is None


def test_a_check_that_raises_rolls_everything_back(store: SqlStore) -> None:
    _, token = _user_and_token(store)

    with pytest.raises(Refused, match="shop-web"):
        store.redeem_refresh_token(OLD, NEW, 20.0, 520.0, _refuse)
    assert store.get_refresh_token(OLD) == token
    assert store.get_refresh_token(NEW) is None
    assert store.redeem_refresh_token(OLD, NEW, 30.0, 530.0, _accept) == "fam-1:alice"


def test_check_sees_a_disabled_user(store: SqlStore) -> None:
    _user_and_token(store)
    assert store.set_user_disabled("alice", True) is True
    seen: list[bool] = []

    def check(record: RefreshTokenRecord, user: UserRecord | None) -> bool:
        seen.append(user is not None and user.disabled)
        return True

    assert store.redeem_refresh_token(OLD, NEW, 20.0, 520.0, check) is True
    assert seen == [True]


def test_concurrent_redemptions_have_one_winner(store: SqlStore) -> None:
    _user_and_token(store)
    results: list[str | None] = []
    start = threading.Barrier(8)

    def redeem(i: int) -> None:
        start.wait()
        results.append(store.redeem_refresh_token(OLD, f"{i:064x}", 30.0, 530.0, _accept))

    threads = [threading.Thread(target=redeem, args=(i + 1,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("fam-1:alice") == 1 and results.count(None) == 7
    used = store.get_refresh_token(OLD)
    assert used is not None and used.replaced_by is not None
    stored = [store.get_refresh_token(f"{i + 1:064x}") for i in range(8)]
    assert [r.token_hash for r in stored if r is not None] == [used.replaced_by]


def test_concurrent_redemption_after_a_refused_check_still_has_one_winner(
    store: SqlStore,
) -> None:
    _user_and_token(store)
    results: list[str | None] = []
    start = threading.Barrier(6)

    def redeem(i: int) -> None:
        start.wait()
        check = _refuse if i % 2 else _accept
        try:
            results.append(store.redeem_refresh_token(OLD, f"{i:064x}", 30.0, 530.0, check))
        except Refused:
            results.append("refused")

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("fam-1:alice") == 1
    used = store.get_refresh_token(OLD)
    assert used is not None and used.replaced_by is not None
    assert store.get_refresh_token(used.replaced_by) is not None

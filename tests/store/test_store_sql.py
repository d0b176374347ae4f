"""SqlStore on SQLite and PostgreSQL: one body per behaviour, run on both."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import sqlalchemy as sa

from jwtmesh.store import (
    AlreadyExistsError,
    ClientRecord,
    KeyState,
    RefreshTokenRecord,
    SigningKeyRecord,
    SqlStore,
    migrate,
)


def _client(client_id: str = "orders-svc", digest: bytes | None = b"\x01" * 32) -> ClientRecord:
    return ClientRecord(
        client_id=client_id,
        secret_digest=digest,
        grant_types=("client_credentials",),
        audiences=("users", "catalog"),
        scopes=("orders:read",),
        roles=("service",),
        created_at=100.0,
    )


def _refresh(store: SqlStore, token_hash: str, family: str = "fam-1") -> RefreshTokenRecord:
    user = store.get_user_by_name("alice") or store.add_user("alice", "h", ["customer"], 1.0)
    return RefreshTokenRecord(
        token_hash=token_hash,
        family_id=family,
        user_id=user.id,
        client_id="shop-web",
        audience=("gateway", "orders"),
        scope="orders",
        issued_at=10.0,
        expires_at=1000.0,
    )


def _key(kid: str, state: KeyState, created: float) -> SigningKeyRecord:
    return SigningKeyRecord(
        kid=kid,
        alg="ES256",
        state=state,
        sealed_private_key=b"\x00sealed\xff" + kid.encode(),
        public_jwk={"kty": "EC", "kid": kid, "crv": "P-256", "x": "AA", "y": "BB"},
        created_at=created,
    )


def test_user_round_trip(store: SqlStore) -> None:
    added = store.add_user("alice", "$argon2id$v=19$m=1,t=1,p=1$x$y", ["customer", "staff"], 5.0)
    assert store.get_user_by_name("alice") == added
    assert store.get_user(added.id) == added
    assert added.roles == ("customer", "staff")
    assert store.get_user_by_name("bob") is None


def test_duplicate_username_is_refused(store: SqlStore) -> None:
    store.add_user("alice", "h", [], 1.0)
    with pytest.raises(AlreadyExistsError, match="alice"):
        store.add_user("alice", "h2", [], 2.0)


def test_disable_and_rehash_user(store: SqlStore) -> None:
    user = store.add_user("alice", "old", [], 1.0)
    assert store.set_user_disabled("alice", True) is True
    assert store.set_user_disabled("nobody", True) is False
    store.set_password_hash(user.id, "new")
    again = store.get_user(user.id)
    assert again is not None and again.disabled and again.password_hash == "new"


def test_client_round_trip_keeps_binary_digest(store: SqlStore) -> None:
    digest = bytes(range(32))
    store.add_client(_client(digest=digest))
    store.add_client(_client("shop-web", digest=None))
    got = store.get_client("orders-svc")
    assert got == _client(digest=digest)
    public = store.get_client("shop-web")
    assert public is not None and public.is_public
    assert store.get_client("nope") is None


def test_duplicate_client_is_refused(store: SqlStore) -> None:
    store.add_client(_client())
    with pytest.raises(AlreadyExistsError):
        store.add_client(_client())


def test_refresh_rotation_is_single_use(store: SqlStore) -> None:
    first = _refresh(store, "a" * 64)
    store.add_refresh_token(first)
    second = dataclasses.replace(first, token_hash="b" * 64, issued_at=20.0)
    assert store.rotate_refresh_token(first.token_hash, second, now=20.0) is True
    third = dataclasses.replace(first, token_hash="c" * 64)
    assert store.rotate_refresh_token(first.token_hash, third, now=21.0) is False
    used = store.get_refresh_token(first.token_hash)
    assert used is not None and used.used_at == 20.0 and used.replaced_by == "b" * 64
    assert store.get_refresh_token("b" * 64) == second
    assert store.get_refresh_token("c" * 64) is None


def test_concurrent_rotations_have_one_winner(store: SqlStore) -> None:
    first = _refresh(store, "a" * 64)
    store.add_refresh_token(first)
    results: list[bool] = []

    def rotate(i: int) -> None:
        successor = dataclasses.replace(first, token_hash=f"{i:064x}")
        results.append(store.rotate_refresh_token(first.token_hash, successor, now=30.0))

    threads = [threading.Thread(target=rotate, args=(i + 1,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]


def test_revoke_family_blocks_rotation(store: SqlStore) -> None:
    first = _refresh(store, "a" * 64, family="f1")
    other = _refresh(store, "d" * 64, family="f2")
    store.add_refresh_token(first)
    store.add_refresh_token(other)
    assert store.revoke_family("f1") == 1
    assert store.revoke_family("f1") == 0
    successor = dataclasses.replace(first, token_hash="b" * 64)
    assert store.rotate_refresh_token(first.token_hash, successor, now=5.0) is False
    kept = store.get_refresh_token(other.token_hash)
    assert kept is not None and not kept.revoked


def test_purge_refresh_tokens(store: SqlStore) -> None:
    store.add_refresh_token(_refresh(store, "a" * 64))
    assert store.purge_refresh_tokens(now=999.0) == 0
    assert store.purge_refresh_tokens(now=1001.0) == 1
    assert store.get_refresh_token("a" * 64) is None


def test_signing_keys_states_and_atomic_update(store: SqlStore) -> None:
    active = _key("k1", KeyState.ACTIVE, 1.0)
    store.add_signing_key(active)
    store.add_signing_key(_key("k0", KeyState.RETIRED, 0.5))
    assert [k.kid for k in store.list_signing_keys()] == ["k0", "k1"]
    retiring = dataclasses.replace(active, state=KeyState.RETIRING, retire_after=99.0)
    store.update_signing_keys([retiring], [_key("k2", KeyState.ACTIVE, 2.0)])
    live = store.list_signing_keys([KeyState.ACTIVE, KeyState.RETIRING])
    assert [(k.kid, k.state) for k in live] == [("k1", KeyState.RETIRING), ("k2", KeyState.ACTIVE)]
    assert live[0].retire_after == 99.0
    assert live[1].sealed_private_key == b"\x00sealed\xffk2"
    assert live[1].public_jwk["crv"] == "P-256"


def test_failed_key_update_changes_nothing(store: SqlStore) -> None:
    active = _key("k1", KeyState.ACTIVE, 1.0)
    store.add_signing_key(active)
    retiring = dataclasses.replace(active, state=KeyState.RETIRING)
    with pytest.raises(AlreadyExistsError):
        store.update_signing_keys([retiring], [_key("k1", KeyState.NEXT, 3.0)])
    assert [k.state for k in store.list_signing_keys()] == [KeyState.ACTIVE]


def test_revocations_feed(store: SqlStore) -> None:
    assert store.last_event_id() == 0
    first = store.revoke_jti("jti-1", exp=500.0, now=10.0)
    second = store.revoke_jti("jti-2", exp=600.0, now=11.0)
    assert first is not None and second is not None and second > first
    assert store.revoke_jti("jti-1", exp=500.0, now=12.0) is None
    assert store.is_revoked("jti-1") and not store.is_revoked("jti-3")
    events = store.events_after(0)
    assert [(e.jti, e.exp, e.kind) for e in events] == [
        ("jti-1", 500.0, "revoke"),
        ("jti-2", 600.0, "revoke"),
    ]
    assert [e.jti for e in store.events_after(first)] == ["jti-2"]
    assert store.events_after(second) == []
    assert store.last_event_id() == second


def test_purge_expired_revocations(store: SqlStore) -> None:
    store.revoke_jti("old", exp=50.0, now=1.0)
    store.revoke_jti("new", exp=500.0, now=1.0)
    assert store.purge_expired(now=100.0) == 2  # one revocation + its event
    assert not store.is_revoked("old") and store.is_revoked("new")
    assert [e.jti for e in store.events_after(0)] == ["new"]


def test_migrate_is_idempotent_and_versioned(db_url: str) -> None:
    migrate(db_url)
    migrate(db_url)
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert version == "0002"
    expected = {"users", "clients", "refresh_tokens", "signing_keys", "revocations", "events"}
    assert expected | {"revoked_sessions"} <= tables


def test_unsupported_database_is_named() -> None:
    with pytest.raises(ValueError, match="mysql"):
        SqlStore.open("mysql://localhost/x")

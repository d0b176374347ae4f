"""The key ring's life cycle with a frozen clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from jwtmesh.authority import (
    AuthoritySettings,
    KeyRing,
    KeyTiming,
    SettingsError,
    StartupError,
)
from jwtmesh.jose import Key
from jwtmesh.store import KeyState, SqlStore
from support.postgres import pg_database

from .test_keys_support import set_sealed_blob

TIMING = KeyTiming(publish_ahead=100.0, retire_grace=50.0)
PRIVATE = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """One PostgreSQL database for this module."""
    with pg_database("jwtmesh_keyring") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty migrated database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/keys.db"
    url: str = request.getfixturevalue("pg_url")
    store = SqlStore.open(url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM signing_keys")
    store.close()
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    """A migrated store; closed after the test."""
    store = SqlStore.open(db_url)
    yield store
    store.close()


def _ring(store: SqlStore, clock: Clock, kek: bytes, timing: KeyTiming = TIMING) -> KeyRing:
    ring = KeyRing(store, kek, "ES256", clock=clock, timing=timing)
    ring.load()
    return ring


def _states(store: SqlStore) -> list[tuple[str, KeyState]]:
    return [(k.kid, k.state) for k in store.list_signing_keys()]


def test_first_start_makes_one_active_key_and_no_next(store: SqlStore) -> None:
    ring = _ring(store, Clock(), secrets.token_bytes(32))
    assert ring.tick() == []
    assert list(ring.states().values()) == [KeyState.ACTIVE]
    assert [k["kid"] for k in ring.jwks()["keys"]] == [ring.signing_key.kid]


def test_scheduled_rotation_publishes_ahead_then_retires(store: SqlStore) -> None:
    clock = Clock(0.0)
    timing = dataclasses.replace(TIMING, rotation_interval=1000.0)
    ring = _ring(store, clock, secrets.token_bytes(32), timing)
    first = ring.signing_key.kid
    clock.now = 899.0
    assert ring.tick() == [] and len(ring.jwks()["keys"]) == 1
    clock.now = 900.0
    [published] = ring.tick()
    upcoming = [kid for kid, state in ring.states().items() if state is KeyState.NEXT]
    assert published == f"published {upcoming[0]} as next"
    assert ring.signing_key.kid == first and len(ring.jwks()["keys"]) == 2
    clock.now = 999.0
    assert ring.tick() == [] and ring.signing_key.kid == first
    clock.now = 1000.0
    changes = ring.tick()
    assert changes[0] == f"promoted {upcoming[0]} to active"
    assert ring.signing_key.kid == upcoming[0]
    assert ring.states()[first] is KeyState.RETIRING
    assert sorted(ring.states().values()) == sorted(
        [KeyState.ACTIVE, KeyState.NEXT, KeyState.RETIRING]
    )


def test_retiring_key_stays_published_until_its_tokens_expired(store: SqlStore) -> None:
    clock = Clock()
    ring = _ring(store, clock, secrets.token_bytes(32))
    first = ring.signing_key.kid
    ring.request_rotation(now=True)
    [old] = [k for k in store.list_signing_keys() if k.kid == first]
    assert old.retire_after == clock.now + TIMING.retire_grace
    clock.now += TIMING.retire_grace - 0.001
    ring.tick()
    assert first in ring.states() and ring.keyset.get(first) is not None
    clock.now += 0.001
    assert f"retired {first}" in ring.tick()
    assert first not in ring.states() and ring.keyset.get(first) is None
    [retired] = [k for k in store.list_signing_keys() if k.kid == first]
    assert retired.state is KeyState.RETIRED and retired.sealed_private_key == b""
    assert retired.public_jwk["kid"] == first  # kept for audit


def test_rotate_by_hand_schedules_the_next_key(store: SqlStore) -> None:
    clock = Clock()
    ring = _ring(store, clock, secrets.token_bytes(32))
    first = ring.signing_key.kid
    result = ring.request_rotation(now=False)
    assert result.activated is False and result.at == clock.now + TIMING.publish_ahead
    assert ring.states()[result.kid] is KeyState.NEXT and ring.signing_key.kid == first
    assert "--now" in result.note
    clock.now += TIMING.publish_ahead - 1
    assert ring.tick() == [] and ring.signing_key.kid == first
    clock.now += 1
    assert ring.tick()[0] == f"promoted {result.kid} to active"
    assert ring.signing_key.kid == result.kid and ring.states()[first] is KeyState.RETIRING


def test_rotate_promotes_a_ripe_next_key_at_once(store: SqlStore) -> None:
    clock = Clock()
    ring = _ring(store, clock, secrets.token_bytes(32))
    ring.request_rotation(now=True)  # leaves a fresh next key standing by
    [standby] = [kid for kid, s in ring.states().items() if s is KeyState.NEXT]
    clock.now += TIMING.publish_ahead
    result = ring.request_rotation(now=False)
    assert result.kid == standby and result.activated is True
    assert result.published_for == TIMING.publish_ahead
    assert ring.signing_key.kid == standby


def test_rotate_now_says_guards_refetch(store: SqlStore) -> None:
    clock = Clock()
    ring = _ring(store, clock, secrets.token_bytes(32))
    first = ring.signing_key.kid
    result = ring.request_rotation(now=True)
    assert result.activated is True and result.published_for == 0.0
    assert "unknown kid" in result.note
    assert ring.signing_key.kid == result.kid != first
    assert ring.states()[first] is KeyState.RETIRING


def test_legacy_rotate_returns_the_new_active_kid(store: SqlStore) -> None:
    clock = Clock()
    ring = _ring(store, clock, secrets.token_bytes(32))
    first = ring.signing_key.kid
    second = ring.rotate(retire_after=10)
    [old] = [k for k in store.list_signing_keys() if k.kid == first]
    assert second == ring.signing_key.kid and old.retire_after == clock.now + 10


def test_processes_see_each_others_rotations_and_one_transition_wins(db_url: str) -> None:
    clock, kek = Clock(), secrets.token_bytes(32)
    stores = [SqlStore.open(db_url) for _ in range(3)]
    rings = [KeyRing(s, kek, "ES256", clock=clock, timing=TIMING) for s in stores]
    _together([r.load for r in rings])
    assert [s for _, s in _states(stores[0])] == [KeyState.ACTIVE]  # one first key, not three
    first = rings[0].signing_key.kid
    scheduled = rings[1].request_rotation(now=False)
    clock.now += TIMING.publish_ahead
    results = _together([r.tick for r in rings] * 2)
    promotions = [c for changes in results for c in changes if c.startswith("promoted")]
    assert promotions == [f"promoted {scheduled.kid} to active"]
    assert {r.signing_key.kid for r in rings} == {scheduled.kid}
    states = [s for _, s in _states(stores[2])]
    assert states.count(KeyState.ACTIVE) == 1 and states.count(KeyState.NEXT) == 1
    assert rings[2].states()[first] is KeyState.RETIRING
    for s in stores:
        s.close()


def _together(calls: Sequence[Callable[[], object]]) -> list[list[str]]:
    """Run the calls in threads released at the same moment; return their results."""
    barrier = threading.Barrier(len(calls))
    results: list[list[str]] = [[] for _ in calls]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            out = calls[i]()
            results[i] = out if isinstance(out, list) else []
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    return results


def test_jwks_never_has_private_members(store: SqlStore) -> None:
    clock = Clock()
    ring = _ring(store, clock, secrets.token_bytes(32))
    ring.request_rotation(now=True)
    # A tampered row whose "public" JWK carries the private half is still published clean.
    leaked = Key.generate("EdDSA")
    record = dataclasses.replace(
        store.list_signing_keys()[0],
        kid=leaked.kid,
        alg="EdDSA",
        state=KeyState.NEXT,
        public_jwk=leaked.private_jwk(),
    )
    store.add_signing_key(record)
    ring.tick()
    keys = ring.jwks()["keys"]
    assert len(keys) == 4
    for jwk in keys:
        assert PRIVATE.isdisjoint(jwk) and jwk["use"] == "sig"
    assert leaked.private_jwk()["d"] not in str(keys)


def test_damaged_next_key_is_never_promoted(
    store: SqlStore, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    ring = _ring(store, clock, secrets.token_bytes(32))
    first = ring.signing_key.kid
    scheduled = ring.request_rotation(now=False)
    set_sealed_blob(db_url, scheduled.kid, b"jm1" + bytes(40))
    clock.now = scheduled.at
    with caplog.at_level(logging.ERROR, logger="jwtmesh.authority._keyring"):
        assert ring.tick() == []
    assert ring.signing_key.kid == first
    assert f"signing key {scheduled.kid} (next) cannot be unsealed" in caplog.text


def test_wrong_kek_fails_load_naming_the_keys(store: SqlStore) -> None:
    ring = _ring(store, Clock(), secrets.token_bytes(32))
    before = store.list_signing_keys()
    with pytest.raises(StartupError, match="cannot unseal") as caught:
        KeyRing(store, secrets.token_bytes(32), timing=TIMING).load()
    assert ring.signing_key.kid in str(caught.value) and "JWTMESH_KEK" in str(caught.value)
    assert store.list_signing_keys() == before


def test_settings_of_the_key_ring() -> None:
    settings = AuthoritySettings.from_env(
        {
            "JWTMESH_KEY_ROTATION_INTERVAL": "86400",
            "JWTMESH_KEY_PUBLISH_AHEAD": "900",
            "JWTMESH_KEY_RETIRE_LEEWAY": "30",
            "JWTMESH_KEY_TICK_INTERVAL": "2.5",
            "JWTMESH_ACCESS_TTL": "120",
        }
    )
    timing = KeyTiming.from_settings(settings)
    assert timing == KeyTiming(publish_ahead=900.0, retire_grace=150.0, rotation_interval=86400)
    assert settings.key_tick_interval == 2.5
    defaults = AuthoritySettings()
    assert defaults.key_rotation_interval == 0 and defaults.publish_ahead == 600.0
    assert defaults.retire_grace == 300 + 60
    assert AuthoritySettings(jwks_max_age=60).publish_ahead == 120.0


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"JWTMESH_KEY_PUBLISH_AHEAD": "300"}, "JWTMESH_KEY_PUBLISH_AHEAD"),
        (
            {"JWTMESH_JWKS_MAX_AGE": "10", "JWTMESH_KEY_PUBLISH_AHEAD": "5"},
            "JWTMESH_KEY_PUBLISH_AHEAD",
        ),
        ({"JWTMESH_KEY_PUBLISH_AHEAD": "soon"}, "JWTMESH_KEY_PUBLISH_AHEAD"),
        ({"JWTMESH_KEY_ROTATION_INTERVAL": "60"}, "JWTMESH_KEY_ROTATION_INTERVAL"),
        ({"JWTMESH_KEY_ROTATION_INTERVAL": "-1"}, "JWTMESH_KEY_ROTATION_INTERVAL"),
        ({"JWTMESH_KEY_TICK_INTERVAL": "0"}, "JWTMESH_KEY_TICK_INTERVAL"),
        ({"JWTMESH_KEY_RETIRE_LEEWAY": "-5"}, "JWTMESH_KEY_RETIRE_LEEWAY"),
        ({"JWTMESH_KEY_RETIRE_LEEWAY": "1"}, "JWTMESH_KEY_RETIRE_LEEWAY"),
    ],
)
def test_bad_key_ring_settings_name_the_field(env: dict[str, str], field: str) -> None:
    with pytest.raises(SettingsError) as caught:
        AuthoritySettings.from_env(env)
    assert caught.value.field == field and field in str(caught.value)

"""Session-wide revocation (``sid``) in the guard, and how staleness is logged and reported."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from jwtmesh.guard import (
    Guard,
    GuardUnavailableError,
    JWTVerifier,
    RedisRevocationFollower,
    RevocationFollower,
    RevocationSet,
)
from jwtmesh.jose import KeySet, RevokedTokenError, Validator

from .conftest import AUDIENCE, CLIENT_ID, CLIENT_SECRET, ISSUER, FakeAuthority

LOGGER = "jwtmesh.guard._revocation"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_session_entry_revokes_any_jti_of_that_session() -> None:
    revoked = RevocationSet(grace=0, clock=Clock())
    revoked.add_session("fam-1", 1300)
    assert revoked.revoked("any-jti", "fam-1")
    assert revoked.revoked(None, "fam-1")
    assert not revoked.revoked("any-jti", "fam-2")
    assert not revoked.revoked("any-jti", None)
    assert "fam-1" not in revoked  # membership is by jti only
    assert len(revoked) == 1


def test_non_string_claims_are_never_looked_up() -> None:
    revoked = RevocationSet(clock=Clock())
    revoked.add_session("fam", 2000)
    assert not revoked.revoked(["fam"], {"sid": "fam"})
    assert not revoked.revoked(42, 7)


def test_session_entries_expire_and_share_the_bound() -> None:
    clock = Clock()
    revoked = RevocationSet(max_entries=2, grace=5, clock=clock)
    revoked.add_session("soon", 1010)
    revoked.add("j", 1500)
    revoked.add_session("late", 1600)  # full: the soonest expiry ("soon") goes
    assert len(revoked) == 2
    assert not revoked.revoked(None, "soon")
    assert revoked.revoked(None, "late") and revoked.revoked("j")
    clock.now = 1506
    assert not revoked.revoked("j") and revoked.revoked(None, "late")
    assert revoked.prune() == 1 and len(revoked) == 1


def test_a_later_exp_for_the_same_session_wins() -> None:
    clock = Clock()
    revoked = RevocationSet(grace=0, clock=clock)
    revoked.add_session("fam", 1100)
    revoked.add_session("fam", 1200)
    clock.now = 1150
    assert revoked.prune() == 0
    assert revoked.revoked(None, "fam")


@pytest.mark.anyio
async def test_verifier_rejects_every_token_of_a_revoked_session(
    authority: FakeAuthority,
) -> None:
    revoked = RevocationSet()
    verifier = JWTVerifier(
        Validator(KeySet([authority.key]), ISSUER, AUDIENCE), revocations=revoked, cache_size=100
    )
    first = authority.sign(jti="a-1", sid="fam-x")
    second = authority.sign(jti="a-2", sid="fam-x")
    other = authority.sign(jti="b-1", sid="fam-y")
    assert (await verifier.authenticate(first)).token_id == "a-1"  # cached from now on
    revoked.add_session("fam-x", int(time.time()) + 300)
    for token in (first, second):
        with pytest.raises(RevokedTokenError) as caught:
            await verifier.authenticate(token)
        assert caught.value.code == "revoked"
    assert (await verifier.authenticate(other)).token_id == "b-1"


@pytest.mark.anyio
async def test_feed_follower_applies_sid_events(authority: FakeAuthority) -> None:
    revoked = RevocationSet()
    follower = RevocationFollower(
        authority.url + "/oauth/revocations",
        revoked,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    exp = int(time.time()) + 300
    authority.revocations.extend(
        [
            {"sid": "fam-1", "exp": exp},
            {"jti": "j-1", "exp": exp},
            {"sid": 5, "exp": exp},  # malformed: skipped
            {"exp": exp},  # neither jti nor sid: skipped
        ]
    )
    applied = await follower.poll_once(wait=0)
    await follower.close()
    assert applied == 2
    assert revoked.revoked("whatever", "fam-1") and "j-1" in revoked
    assert follower.cursor == 4


@pytest.fixture
async def stream() -> AsyncIterator[tuple[aioredis.Redis, str]]:
    client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    name = f"jwtmesh:test:sessions:{uuid.uuid4().hex}"
    yield client, name
    await client.delete(name)
    await client.aclose()


@pytest.mark.anyio
@pytest.mark.redis
async def test_stream_follower_applies_sid_entries(stream: tuple[aioredis.Redis, str]) -> None:
    client, name = stream
    exp = str(int(time.time()) + 60)
    await client.xadd(name, {"sid": "fam-s", "exp": exp, "event": "7"})
    await client.xadd(name, {"jti": "j-s", "exp": exp, "event": "8"})
    await client.xadd(name, {"exp": exp})  # neither: skipped
    revoked = RevocationSet()
    follower = RedisRevocationFollower(client, revoked, stream=name)
    assert await follower.read_once(block_ms=10) == 2
    assert revoked.revoked("x", "fam-s") and "j-s" in revoked


def _stale_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [
        (r.levelno, r.getMessage())
        for r in caplog.records
        if r.name == LOGGER and ("stale" in r.getMessage() or "up to date" in r.getMessage())
    ]


@pytest.mark.anyio
async def test_staleness_is_logged_once_each_way(
    authority: FakeAuthority, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    follower = RevocationFollower(
        authority.url + "/oauth/revocations",
        RevocationSet(),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        max_staleness=10,
        clock=clock,
    )
    caplog.set_level(logging.INFO, logger=LOGGER)
    await follower.poll_once(wait=0)
    clock.now += 11
    for _ in range(50):  # one check per request: the log says it once
        follower.check()
    assert follower.is_stale()
    await follower.poll_once(wait=0)
    for _ in range(50):
        follower.check()
    await follower.close()
    lines = _stale_lines(caplog)
    assert [level for level, _ in lines] == [logging.WARNING, logging.INFO]
    assert "still serving" in lines[0][1]


@pytest.mark.anyio
async def test_refuse_stance_logs_and_refuses(
    authority: FakeAuthority, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    follower = RevocationFollower(
        authority.url + "/oauth/revocations",
        RevocationSet(),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        max_staleness=10,
        stance="refuse",
        clock=clock,
    )
    caplog.set_level(logging.INFO, logger=LOGGER)
    await follower.poll_once(wait=0)
    clock.now += 11
    for _ in range(3):
        with pytest.raises(GuardUnavailableError) as caught:
            follower.check()
        assert caught.value.code == "revocation_stale"
    await follower.close()
    lines = _stale_lines(caplog)
    assert len(lines) == 1 and lines[0][0] == logging.WARNING
    assert "refusing requests" in lines[0][1]


@pytest.mark.anyio
async def test_failed_polls_warn_once_per_outage(
    authority: FakeAuthority, caplog: pytest.LogCaptureFixture
) -> None:
    authority.feed_broken = True
    follower = RevocationFollower(
        authority.url + "/oauth/revocations",
        RevocationSet(),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        wait=1,
        backoff_initial=0.02,
        backoff_max=0.02,
    )
    caplog.set_level(logging.INFO, logger=LOGGER)
    follower.start()
    while follower.failures < 4:
        await asyncio.sleep(0.01)
    authority.feed_broken = False
    while follower.last_sync is None:
        await asyncio.sleep(0.01)
    await follower.close()
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    infos = [
        r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.INFO
    ]
    assert len(warnings) == 1 and "failed" in warnings[0].getMessage()
    assert any("is back" in message for message in infos)


@pytest.mark.anyio
async def test_health_reports_the_stale_stance(authority: FakeAuthority) -> None:
    clock = Clock()
    revoked = RevocationSet()
    follower = RevocationFollower(
        authority.url + "/oauth/revocations",
        revoked,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        max_staleness=10,
        clock=clock,
    )
    guard = Guard(
        JWTVerifier(Validator(KeySet([authority.key]), ISSUER, AUDIENCE), revocations=revoked),
        follower=follower,
    )
    await follower.poll_once(wait=0)
    assert guard.health()["status"] == "ok"
    clock.now += 11
    report = guard.health()
    await follower.close()
    assert report["status"] == "degraded"
    assert report["revocation"]["stale"] is True and report["revocation"]["stance"] == "serve"

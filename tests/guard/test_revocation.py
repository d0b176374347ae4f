"""RevocationSet bounds and expiry; RevocationFollower over a real long-poll feed."""

from __future__ import annotations

import asyncio
import time

import pytest

from jwtmesh.guard import GuardUnavailableError, JWTVerifier, RevocationFollower, RevocationSet
from jwtmesh.jose import KeySet, RevokedTokenError, Validator

from .conftest import AUDIENCE, CLIENT_ID, CLIENT_SECRET, ISSUER, FakeAuthority


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_set_drops_expired_entries() -> None:
    clock = Clock()
    revoked = RevocationSet(grace=5, clock=clock)
    revoked.add("a", 1010)
    revoked.add("b", 1100)
    revoked.add("gone", 990)  # already past exp + grace: never stored
    assert "a" in revoked
    assert "gone" not in revoked
    clock.now = 1016
    assert "a" not in revoked
    assert revoked.prune() == 1
    assert len(revoked) == 1


def test_set_is_bounded_and_evicts_soonest_expiry() -> None:
    revoked = RevocationSet(max_entries=3, grace=0, clock=Clock())
    for jti, exp in (("x", 1500), ("soon", 1100), ("y", 1600), ("z", 1700)):
        revoked.add(jti, exp)
    assert len(revoked) == 3
    assert "soon" not in revoked
    assert all(j in revoked for j in ("x", "y", "z"))


def follower_for(
    authority: FakeAuthority, revoked: RevocationSet, **kw: float | str
) -> RevocationFollower:
    return RevocationFollower(
        authority.url + "/oauth/revocations",
        revoked,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        wait=1.0,
        backoff_initial=0.05,
        backoff_max=0.1,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.anyio
async def test_follower_picks_up_a_revoked_jti(authority: FakeAuthority) -> None:
    revoked = RevocationSet()
    follower = follower_for(authority, revoked)
    verifier = JWTVerifier(
        Validator(KeySet([authority.key]), ISSUER, AUDIENCE), revocations=revoked, cache_size=100
    )
    token = authority.sign(jti="t-1")
    assert (await verifier.authenticate(token)).token_id == "t-1"  # now cached
    follower.start()
    await asyncio.sleep(0.1)
    authority.revoke("t-1", int(time.time()) + 300)
    for _ in range(50):
        if "t-1" in revoked:
            break
        await asyncio.sleep(0.02)
    await follower.close()
    assert follower.cursor == 1
    with pytest.raises(RevokedTokenError):
        await verifier.authenticate(token)  # cached entry rechecked against the set


@pytest.mark.anyio
async def test_follower_resumes_after_disconnect(authority: FakeAuthority) -> None:
    revoked = RevocationSet()
    follower = follower_for(authority, revoked)
    authority.revoke("before", int(time.time()) + 300)
    await follower.poll_once(wait=0)
    port = int(authority.url.rsplit(":", 1)[1])
    await authority.stop()
    follower.start()
    await asyncio.sleep(0.3)
    failures = follower.failures
    authority.revoke("after", int(time.time()) + 300)
    await authority.start(port)
    for _ in range(100):
        if "after" in revoked:
            break
        await asyncio.sleep(0.02)
    await follower.close()
    assert failures >= 2
    assert "before" in revoked
    assert "after" in revoked
    assert follower.cursor == 2


@pytest.mark.anyio
async def test_refuse_stance_when_stale(authority: FakeAuthority) -> None:
    authority.feed_broken = True
    clock = Clock()
    follower = follower_for(authority, RevocationSet(), stance="refuse", max_staleness=10)
    follower._clock = clock
    follower.start()
    follower.check()  # fresh start: not stale yet
    clock.now += 11
    with pytest.raises(GuardUnavailableError) as caught:
        follower.check()
    await follower.close()
    assert caught.value.code == "revocation_stale"
    assert follower.is_stale()

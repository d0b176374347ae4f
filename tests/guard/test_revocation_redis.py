"""Revocations pushed through the Redis stream reach the guard, and a late guard catches up."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from jwtmesh.guard import GuardUnavailableError, RedisRevocationFollower, RevocationSet

REDIS_URL = "redis://127.0.0.1:6379/0"
pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


@pytest.fixture
async def stream() -> AsyncIterator[tuple[aioredis.Redis, str]]:
    client = aioredis.Redis.from_url(REDIS_URL)
    name = f"jwtmesh:test:revocations:{uuid.uuid4().hex}"
    yield client, name
    await client.delete(name)
    await client.aclose()


async def _wait_for(predicate: object, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_pushed_revocation_arrives_while_following() -> None:
    # Its own event loop and clients, bounded as a whole: this test runs a background task.
    asyncio.run(asyncio.wait_for(_follow_and_push(), timeout=30))


async def _follow_and_push() -> None:
    name = f"jwtmesh:test:revocations:{uuid.uuid4().hex}"
    writer = aioredis.Redis.from_url(REDIS_URL)
    revoked = RevocationSet()
    # The follower opens its own connection, as a guard configured by URL does.
    follower = RedisRevocationFollower(REDIS_URL, revoked, stream=name, block_seconds=1)
    follower.start()
    try:
        await _wait_for(lambda: follower.last_sync is not None, timeout=10)
        await writer.xadd(name, {"jti": "j-live", "exp": str(int(time.time()) + 60)})
        await _wait_for(lambda: "j-live" in revoked, timeout=10)
    finally:
        await follower.close()
        await writer.delete(name)
        await writer.aclose()
    assert follower.failures == 0


@pytest.mark.anyio
async def test_guard_that_was_away_catches_up_from_the_stream(
    stream: tuple[aioredis.Redis, str],
) -> None:
    client, name = stream
    exp = str(int(time.time()) + 60)
    for i in range(3):
        await client.xadd(name, {"jti": f"j-{i}", "exp": exp})
    revoked = RevocationSet()
    follower = RedisRevocationFollower(client, revoked, stream=name)
    assert await follower.read_once(block_ms=10) == 3
    assert all(jti in revoked for jti in ("j-0", "j-1", "j-2"))
    await client.xadd(name, {"jti": "j-3", "exp": exp})
    assert await follower.read_once(block_ms=10) == 1
    assert "j-3" in revoked


@pytest.mark.anyio
async def test_malformed_entries_are_skipped_not_fatal(stream: tuple[aioredis.Redis, str]) -> None:
    client, name = stream
    await client.xadd(name, {"jti": "only-jti"})
    await client.xadd(name, {"jti": "ok", "exp": str(int(time.time()) + 60)})
    revoked = RevocationSet()
    follower = RedisRevocationFollower(client, revoked, stream=name)
    assert await follower.read_once(block_ms=10) == 1
    assert "ok" in revoked
    assert "only-jti" not in revoked


@pytest.mark.anyio
async def test_unreachable_redis_goes_stale_and_refuses_when_told() -> None:
    revoked = RevocationSet()
    clock = [100.0]
    follower = RedisRevocationFollower(
        "redis://127.0.0.1:1/0",
        revoked,
        max_staleness=5,
        stance="refuse",
        clock=lambda: clock[0],
    )
    follower.start()
    await asyncio.sleep(0.3)
    clock[0] += 10
    assert follower.failures >= 1
    assert follower.is_stale()
    with pytest.raises(GuardUnavailableError) as caught:
        follower.check()
    assert caught.value.code == "revocation_stale"
    await follower.close()


@pytest.mark.anyio
async def test_a_silent_link_times_out_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jwtmesh.guard import _revocation_redis

    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accept, then never answer

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0")  # no socket timeout
    monkeypatch.setattr(_revocation_redis, "READ_SLACK_SECONDS", 0.3)
    follower = RedisRevocationFollower(client, RevocationSet())
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await follower.read_once(block_ms=100)
    assert time.monotonic() - started < 3
    for writer in accepted:
        writer.close()
    server.close()
    await server.wait_closed()
    await client.aclose()


class _SwallowingRedis:
    """Answers XREAD after a short block and, like some clients, swallows a cancellation."""

    async def xread(self, streams: object, count: int, block: int) -> list[object]:
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # the retry a client library may do
        return []


def test_close_returns_even_when_the_client_swallows_the_cancellation() -> None:
    async def scenario() -> float:
        follower = RedisRevocationFollower(_SwallowingRedis(), RevocationSet())  # type: ignore[arg-type]
        follower.start()
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await follower.close()
        return time.monotonic() - started

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=20)) < 2

"""RedisBroadcaster: database events copied to the Redis stream in order, once, never lost."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from jwtmesh.authority._broadcast import RedisBroadcaster
from jwtmesh.store import SqlStore

pytestmark = pytest.mark.redis

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def stream() -> Iterator[str]:
    name = f"jwtmesh:test:{uuid.uuid4().hex}:revocations"
    yield name
    with redis.Redis.from_url(REDIS) as client:
        client.delete(name, f"{name}:published")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = SqlStore.open(f"sqlite:///{tmp_path}/events.db")
    yield opened
    opened.close()


def _publish(store: SqlStore, stream: str, url: str = REDIS) -> int:
    async def once() -> int:
        broadcaster = RedisBroadcaster(store, url, stream=stream, retention=360)
        try:
            return await broadcaster.publish_pending()
        finally:
            await broadcaster.close()

    return asyncio.run(once())


def _entries(stream: str) -> list[dict[bytes, bytes]]:
    with redis.Redis.from_url(REDIS) as client:
        return [fields for _id, fields in client.xrange(stream)]


def test_events_are_published_in_order_with_their_ids(store: SqlStore, stream: str) -> None:
    store.revoke_jti("j-1", exp=2e9, now=1.0)
    store.revoke_session("fam-1", exp=2e9 + 0.5, now=2.0)
    assert _publish(store, stream) == 2
    assert _entries(stream) == [
        {b"jti": b"j-1", b"exp": b"2000000000", b"event": b"1"},
        {b"sid": b"fam-1", b"exp": b"2000000000.5", b"event": b"2"},
    ]
    with redis.Redis.from_url(REDIS) as client:
        assert client.get(f"{stream}:published") == b"2"


def test_a_second_publisher_adds_nothing_twice(store: SqlStore, stream: str) -> None:
    store.revoke_jti("j-1", exp=2e9, now=1.0)
    assert _publish(store, stream) == 1
    assert _publish(store, stream) == 0  # another authority process, same database
    store.revoke_jti("j-2", exp=2e9, now=2.0)
    assert _publish(store, stream) == 1
    assert [e[b"jti"] for e in _entries(stream)] == [b"j-1", b"j-2"]


def test_a_redis_that_lost_everything_is_filled_again(store: SqlStore, stream: str) -> None:
    for i in range(3):
        store.revoke_jti(f"j-{i}", exp=2e9, now=1.0)
    assert _publish(store, stream) == 3
    with redis.Redis.from_url(REDIS) as client:
        client.delete(stream, f"{stream}:published")
    assert _publish(store, stream) == 3
    assert [e[b"event"] for e in _entries(stream)] == [b"1", b"2", b"3"]


def test_entries_past_the_retention_are_trimmed(store: SqlStore, stream: str) -> None:
    with redis.Redis.from_url(REDIS) as client:
        for i in range(250):  # ids in 1970: far older than any retention
            client.xadd(stream, {"jti": f"old-{i}", "exp": "1"}, id=f"{i + 1}-0")
    store.revoke_jti("fresh", exp=2e9, now=1.0)
    assert _publish(store, stream) == 1
    entries = _entries(stream)
    # MINID ~ drops whole stream nodes only: most of the old ones go, the new one stays.
    assert len(entries) < 200
    assert entries[-1][b"jti"] == b"fresh"


def test_unreachable_redis_warns_once_and_keeps_retrying(
    store: SqlStore, stream: str, caplog: pytest.LogCaptureFixture
) -> None:
    store.revoke_jti("j-1", exp=2e9, now=1.0)

    async def run_briefly() -> RedisBroadcaster:
        broadcaster = RedisBroadcaster(
            store,
            "redis://127.0.0.1:1/0",
            stream=stream,
            retention=360,
            backoff_initial=0.01,
            backoff_max=0.02,
        )
        task = asyncio.create_task(broadcaster.run(asyncio.Event))
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await broadcaster.close()
        return broadcaster

    caplog.set_level(logging.INFO, logger="jwtmesh.authority._broadcast")
    broadcaster = asyncio.run(run_briefly())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert broadcaster.healthy is False and broadcaster.published == 0
    assert len(warnings) == 1 and "stay in the database" in warnings[0].getMessage()
    assert _publish(store, stream) == 1  # nothing was lost meanwhile


def test_async_client_can_be_passed_in(store: SqlStore, stream: str) -> None:
    store.revoke_jti("j-1", exp=2e9, now=1.0)

    async def once() -> int:
        client = aioredis.Redis.from_url(REDIS)
        try:
            broadcaster = RedisBroadcaster(store, client, stream=stream, retention=360)
            added = await broadcaster.publish_pending()
            await broadcaster.close()  # not ours: stays open
            await client.ping()
            return added
        finally:
            await client.aclose()

    assert asyncio.run(once()) == 1

"""Throttle counts kept in Redis: shared by workers, and a fallback when Redis fails."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from jwtmesh.authority import create_app
from jwtmesh.authority._throttle import Backoff, MemoryCounters, RedisCounters

from .helpers import PASSWORD, Authority, ServerThread, make_settings, seed

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at 127.0.0.1:6379: {exc}")
    name = f"jwtmesh:test:throttle:{uuid.uuid4().hex}:"
    yield name
    for key in client.scan_iter(match=name + "*"):
        client.delete(key)
    client.close()


async def _two_workers(prefix: str) -> tuple[float, float, float, float]:
    one, two = RedisCounters(REDIS_URL, prefix), RedisCounters(REDIS_URL, prefix)
    backoff = Backoff(free=1, base=4.0, max_delay=60.0)
    try:
        first = await one.fail("login:s:abc", backoff, 1000.0)
        second = await two.fail("login:s:abc", backoff, 1000.0)  # the other worker's count
        seen = await one.locked_for(["login:s:abc", "login:a:none"], 1001.0)
        await two.reset("login:s:abc")
        after_reset = await one.locked_for(["login:s:abc"], 1001.0)
    finally:
        await one.aclose()
        await two.aclose()
    return first, second, seen, after_reset


def test_workers_share_counts_through_redis(prefix: str) -> None:
    first, second, seen, after_reset = asyncio.run(_two_workers(prefix))
    assert (first, second) == (0.0, 4.0)
    assert seen == pytest.approx(3.0)
    assert after_reset == 0.0


def test_redis_keys_expire_and_hold_no_username(prefix: str) -> None:
    async def fail() -> None:
        counters = RedisCounters(REDIS_URL, prefix, forget_after=120.0)
        try:
            await counters.fail("login:s:0123abcd", Backoff(free=0), 1000.0)
        finally:
            await counters.aclose()

    asyncio.run(fail())
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*"))
    ttl = client.ttl(keys[0])
    client.close()
    assert keys == [(prefix + "login:s:0123abcd").encode()]
    assert 0 < ttl <= 120


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redis_down_falls_back_to_this_process() -> None:
    async def run() -> tuple[float, float]:
        fallback = MemoryCounters()
        counters = RedisCounters(f"redis://127.0.0.1:{_closed_port()}/0", fallback=fallback)
        try:
            delay = await counters.fail("k", Backoff(free=0), 1000.0)
            locked = await counters.locked_for(["k"], 1000.5)
        finally:
            await counters.aclose()
        return delay, locked

    delay, locked = asyncio.run(run())
    assert delay == 1.0
    assert locked == pytest.approx(0.5)


@pytest.fixture
def two_workers(tmp_path: Path, prefix: str) -> Iterator[tuple[Authority, Authority]]:
    """Two authority processes' worth of apps on one database, counting in Redis."""
    settings = make_settings(
        tmp_path,
        redis_url=REDIS_URL,
        throttle_redis_prefix=prefix,
        throttle_free_failures=1,
        throttle_base_delay=30.0,
    )
    seed(settings)
    with ServerThread(create_app(settings)) as a, ServerThread(create_app(settings)) as b:
        yield (
            Authority(f"http://127.0.0.1:{a.port}", settings),
            Authority(f"http://127.0.0.1:{b.port}", settings),
        )


def test_a_lock_set_by_one_worker_holds_on_another(
    two_workers: tuple[Authority, Authority],
) -> None:
    one, two = two_workers
    wrong = {"username": "alice", "password": "wrong"}
    assert one.request("POST", "/login", json=wrong).status == 401
    assert two.request("POST", "/login", json=wrong).status == 401  # second failure: 30 s
    reply = one.request("POST", "/login", json={"username": "alice", "password": PASSWORD})
    assert (reply.status, reply.json()["error"]) == (429, "slow_down")
    assert 29 <= int(reply.headers["Retry-After"]) <= 30

"""Revocation events pushed to a Redis stream, after they are committed to the database.

The database is the record; Redis only carries it to the guards.  One task
per authority process copies the events, in id order, from the ``events``
table to the stream (``XADD {jti, exp}`` or ``{sid, exp}``, plus the event
id).  The id of the last event copied, the *published cursor*, lives in
Redis next to the stream (``<stream>:published``) and moves in the same
script call as the ``XADD``: so an event is never lost between the two, a
second authority process never publishes an event twice, and a Redis that
came back empty is filled again from the database.

The task wakes when an event is committed here, and every second otherwise
(another process may write the same database).  While Redis is down it
retries with backoff; the guards that follow the HTTP feed are unaffected.
Entries older than ``retention`` seconds (by the Redis clock) are trimmed
with ``MINID ~``: the tokens they name have expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from jwtmesh.store import EventStore, RevocationEvent

__all__ = ["RedisBroadcaster"]

logger = logging.getLogger(__name__)

_RECHECK = 1.0
_BATCH = 500

# KEYS: stream, cursor key.  ARGV: retention seconds, then per event: id, field, value, exp.
# Only events above the stored cursor are added, so concurrent publishers never duplicate.
_PUBLISH = """
local cursor = tonumber(redis.call('GET', KEYS[2]) or '0')
local now = redis.call('TIME')
local minid = tostring(math.max(tonumber(now[1]) - tonumber(ARGV[1]), 0) * 1000)
local added = 0
for i = 2, #ARGV, 4 do
  local id = tonumber(ARGV[i])
  if id > cursor then
    redis.call('XADD', KEYS[1], 'MINID', '~', minid, '*',
               ARGV[i + 1], ARGV[i + 2], 'exp', ARGV[i + 3], 'event', ARGV[i])
    cursor = id
    added = added + 1
  end
end
redis.call('SET', KEYS[2], tostring(cursor))
return added
"""


class RedisBroadcaster:
    """Copies committed revocation events from the database to a Redis stream."""

    def __init__(
        self,
        events: EventStore,
        redis: aioredis.Redis | str,
        *,
        stream: str,
        retention: float,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
    ) -> None:
        self._events = events
        self._owned = isinstance(redis, str)
        self._redis = _connect(redis) if isinstance(redis, str) else redis
        self.stream = stream
        self.cursor_key = f"{stream}:published"
        self._retention = retention
        self._backoff = (backoff_initial, backoff_max)
        self._script = self._redis.register_script(_PUBLISH)
        self.healthy: bool | None = None  # None until the first attempt
        self.published = 0  # last event id known to be in the stream

    async def publish_pending(self) -> int:
        """Copy every event above the published cursor; return how many were added."""
        added = 0
        while True:
            raw = await self._redis.get(self.cursor_key)
            cursor = int(raw or 0)
            batch = await asyncio.to_thread(self._events.events_after, cursor, _BATCH)
            if batch:
                added += int(await self._script(keys=self._keys, args=self._args(batch)))
            self.published = batch[-1].id if batch else cursor
            if len(batch) < _BATCH:
                return added

    async def run(self, wake: Callable[[], asyncio.Event]) -> None:
        """Publish until cancelled; ``wake()`` is the event the next commit sets."""
        delay = self._backoff[0]
        while True:
            event = wake()  # taken before reading, so no commit is missed
            try:
                added = await self.publish_pending()
            except (RedisError, OSError) as exc:
                self._went_down(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            self._came_back(added)
            delay = self._backoff[0]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), _RECHECK)

    async def close(self) -> None:
        """Close the connection if this broadcaster opened it."""
        if self._owned:
            await self._redis.aclose()

    @property
    def _keys(self) -> list[str]:
        return [self.stream, self.cursor_key]

    def _args(self, batch: Sequence[RevocationEvent]) -> list[str | int | float]:
        args: list[str | int | float] = [int(self._retention)]
        for event in batch:
            field, value = ("jti", event.jti) if event.jti is not None else ("sid", event.sid)
            args += [event.id, field, value or "", _number(event.exp)]
        return args

    def _went_down(self, exc: BaseException) -> None:
        if self.healthy is not False:  # one line per outage, not one per retry
            logger.warning(
                "cannot publish revocations to Redis (%s); they stay in the database "
                "and are published when it is back",
                type(exc).__name__,
            )
        self.healthy = False

    def _came_back(self, added: int) -> None:
        if self.healthy is not True:
            logger.info("publishing revocations to Redis (%d caught up)", added)
        self.healthy = True


def _connect(url: str) -> aioredis.Redis:
    # Bounded waits: a Redis that hangs must not stall publishing forever.
    return aioredis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)

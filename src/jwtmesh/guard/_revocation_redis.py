"""Revocations pushed through a Redis stream, with catch-up after an absence.

The authority appends ``{jti, exp}`` (one token) or ``{sid, exp}`` (every
token of a session) to one stream per deployment and trims
entries older than the longest access-token lifetime (they can no longer
matter: the ``exp`` check rejects those tokens anyway).  A guard blocks on
``XREAD`` from its last entry id, so a revocation reaches it as soon as it is
written, and a guard that was away reads everything it missed from the same
stream.  A stream gives both publish/subscribe and the persisted list in one
structure, with no window between "subscribe" and "read the backlog" in
which an event could fall.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ._revocation import RevocationSet, SyncedSource

__all__ = ["REVOCATION_STREAM", "RedisRevocationFollower"]

logger = logging.getLogger(__name__)
REVOCATION_STREAM = "jwtmesh:revocations"
_BATCH = 1000
READ_SLACK_SECONDS = 5.0


class RedisRevocationFollower(SyncedSource):
    """Follows the revocation stream; same status interface as the HTTP follower."""

    what = "revocation stream"

    def __init__(
        self,
        redis: aioredis.Redis | str,
        revocations: RevocationSet,
        *,
        stream: str = REVOCATION_STREAM,
        block_seconds: float = 5.0,
        max_staleness: float = 120.0,
        stance: str = "serve",
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(revocations, max_staleness, stance, clock)
        self._owned = isinstance(redis, str)
        self._redis = _connect(redis, block_seconds) if isinstance(redis, str) else redis
        self.stream = stream
        self._block_ms = int(block_seconds * 1000)
        self._backoff = (backoff_initial, backoff_max)
        self.cursor = "0"

    async def close(self) -> None:
        """Stop following; close the connection if this follower opened it."""
        await self._stop()
        if self._owned:
            await self._redis.aclose()

    async def read_once(self, block_ms: int | None = None) -> int:
        """One ``XREAD`` from the cursor; returns the number of revocations applied."""
        block = self._block_ms if block_ms is None else block_ms
        # A link that died silently would block this read forever: bound it.
        async with asyncio.timeout(block / 1000 + READ_SLACK_SECONDS):
            answer: Any = await self._redis.xread(
                {self.stream: self.cursor}, count=_BATCH, block=block
            )
        applied = 0
        for _stream, entries in answer or ():
            for entry_id, fields in entries:
                applied += self._apply(fields)
                self.cursor = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        self._synced()
        return applied

    def _apply(self, fields: dict[bytes, bytes]) -> int:
        try:
            exp = float(fields[b"exp"])
            if b"jti" in fields:
                self.revocations.add(fields[b"jti"].decode(), exp)
            else:
                self.revocations.add_session(fields[b"sid"].decode(), exp)
        except (KeyError, ValueError, UnicodeDecodeError):
            logger.warning("ignoring a malformed revocation stream entry")
            return 0
        return 1

    async def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stopping:
            try:
                await self.read_once()
            except (RedisError, OSError) as exc:
                self._failed(exc, delay)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
                delay = min(delay * 2, self._backoff[1])
                continue
            delay = self._backoff[0]
            self.revocations.prune()


def _connect(url: str, block_seconds: float) -> aioredis.Redis:
    # A read may block for block_seconds; past that (plus slack) the link is dead.
    timeout = block_seconds + READ_SLACK_SECONDS
    return aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=5)

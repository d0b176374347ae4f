"""Revoked token ids, kept in sync with the authority's revocation feed."""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
import orjson

from ._errors import GuardUnavailableError
from ._http import SessionRef, SessionSource, basic_auth_header, read_limited

__all__ = ["RevocationFollower", "RevocationSet", "RevocationSource"]

logger = logging.getLogger(__name__)
_MIN_POLL_SECONDS = 0.2


class RevocationSet:
    """``jti -> exp`` of revoked tokens still able to pass the ``exp`` check.

    An entry is dropped once its token is expired (past ``exp + grace``, the
    verifier's leeway), since the expiry check rejects the token anyway.  The
    size is bounded: when full, the entry closest to its expiry goes first.
    """

    def __init__(
        self,
        max_entries: int = 100_000,
        grace: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._entries: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._max = max_entries
        self._grace = grace
        self._clock = clock

    def add(self, jti: str, exp: float) -> None:
        """Record ``jti`` as revoked until ``exp``."""
        now = self._clock()
        if exp + self._grace <= now:
            return
        self.prune(now)
        if jti not in self._entries and len(self._entries) >= self._max:
            self._evict_one()
        self._entries[jti] = max(exp, self._entries.get(jti, exp))
        heapq.heappush(self._heap, (self._entries[jti], jti))

    def __contains__(self, jti: object) -> bool:
        if not isinstance(jti, str):
            return False
        exp = self._entries.get(jti)
        return exp is not None and exp + self._grace > self._clock()

    def __len__(self) -> int:
        return len(self._entries)

    def prune(self, now: float | None = None) -> int:
        """Drop expired entries; returns how many went."""
        now = self._clock() if now is None else now
        dropped = 0
        while self._heap and self._heap[0][0] + self._grace <= now:
            exp, jti = heapq.heappop(self._heap)
            if self._entries.get(jti) == exp:
                del self._entries[jti]
                dropped += 1
        return dropped

    def _evict_one(self) -> None:
        while self._heap:
            exp, jti = heapq.heappop(self._heap)
            if self._entries.get(jti) == exp:
                del self._entries[jti]
                logger.warning("revocation set full; dropped the entry closest to expiry")
                return


class RevocationSource(Protocol):
    """What keeps a :class:`RevocationSet` in sync: the HTTP feed or a Redis stream."""

    revocations: RevocationSet
    stance: str
    last_sync: float | None

    @property
    def cursor(self) -> int | str: ...

    def start(self) -> None: ...

    async def close(self) -> None: ...

    def staleness(self) -> float: ...

    def is_stale(self) -> bool: ...

    def check(self) -> None: ...


class RevocationFollower:
    """Long-polls ``GET url?after=CURSOR&wait=SECONDS`` and feeds a :class:`RevocationSet`.

    After a failure it retries with exponential backoff (with jitter), from
    the last cursor.  ``last_sync`` is the time of the last good answer;
    past ``max_staleness`` seconds without one the follower is *stale*, and
    with ``stance="refuse"`` :meth:`check` raises :class:`GuardUnavailableError`.
    """

    def __init__(
        self,
        url: str,
        revocations: RevocationSet,
        *,
        client_id: str,
        client_secret: str,
        session: SessionSource = None,
        wait: float = 25.0,
        max_staleness: float = 120.0,
        stance: str = "serve",
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_bytes: int = 4 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.revocations = revocations
        self._auth = basic_auth_header(client_id, client_secret)
        self._http = SessionRef(session, wait + 10)
        self._wait = wait
        self.max_staleness = max_staleness
        self.stance = stance
        self._backoff = (backoff_initial, backoff_max)
        self._max_bytes = max_bytes
        self._clock = clock
        self.cursor = 0
        self.last_sync: float | None = None
        self.failures = 0
        self._started_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start following in the background (idempotent)."""
        if self._task is None or self._task.done():
            self._started_at = self._clock()
            self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        """Stop following and close an owned HTTP session."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._http.close()

    # ---------------------------------------------------------------- status
    def staleness(self) -> float:
        """Seconds since the last good answer (or since start when there was none)."""
        since = self.last_sync if self.last_sync is not None else self._started_at
        return 0.0 if since is None else self._clock() - since

    def is_stale(self) -> bool:
        """True when the set may be missing revocations for longer than allowed."""
        return self.staleness() > self.max_staleness

    def check(self) -> None:
        """Raise :class:`GuardUnavailableError` when stale and the stance is ``refuse``."""
        if self.stance == "refuse" and self.is_stale():
            raise GuardUnavailableError("revocation_stale", "revocation list is out of date")

    # ----------------------------------------------------------------- work
    async def poll_once(self, wait: float | None = None) -> int:
        """One request to the feed; returns the number of events applied."""
        wait = self._wait if wait is None else wait
        params = {"after": str(self.cursor), "wait": str(int(wait))}
        timeout = aiohttp.ClientTimeout(total=wait + 10)
        async with self._http.get().get(
            self.url, params=params, headers={"Authorization": self._auth}, timeout=timeout
        ) as response:
            if response.status != 200:
                raise ValueError(f"revocation feed answered HTTP {response.status}")
            body = await read_limited(response, self._max_bytes)
        cursor, events = _parse_feed(body)
        for jti, exp in events:
            self.revocations.add(jti, exp)
        self.cursor = max(self.cursor, cursor)
        self.last_sync = self._clock()
        return len(events)

    async def _run(self) -> None:
        delay = self._backoff[0]
        while True:
            started = self._clock()
            try:
                applied = await self.poll_once()
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self.failures += 1
                logger.warning(
                    "revocation feed poll failed (%s); retrying in %.1fs", type(exc).__name__, delay
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
                delay = min(delay * 2, self._backoff[1])
                continue
            delay = self._backoff[0]
            self.revocations.prune()
            if not applied and self._clock() - started < _MIN_POLL_SECONDS:
                # A feed that answers at once with nothing must not make us spin.
                await asyncio.sleep(_MIN_POLL_SECONDS)


def _parse_feed(body: bytes) -> tuple[int, list[tuple[str, float]]]:
    document: Any = orjson.loads(body)
    if not isinstance(document, dict) or type(document.get("cursor")) is not int:
        raise ValueError("revocation feed answer has no integer cursor")
    raw_events = document.get("events", [])
    if not isinstance(raw_events, list):
        raise ValueError("revocation feed 'events' is not a list")
    events: list[tuple[str, float]] = []
    for event in raw_events:
        if (
            isinstance(event, dict)
            and isinstance(event.get("jti"), str)
            and isinstance(event.get("exp"), int | float)
        ):
            events.append((event["jti"], float(event["exp"])))
    return document["cursor"], events

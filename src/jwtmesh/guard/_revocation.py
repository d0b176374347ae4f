"""Revoked token ids and sessions, kept in sync with the authority's revocation feed."""

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

__all__ = ["RevocationFollower", "RevocationSet", "RevocationSource", "SyncedSource"]

logger = logging.getLogger(__name__)
_STOP_WAIT_SECONDS = 10.0
_MIN_POLL_SECONDS = 0.2


class RevocationSet:
    """Revoked access tokens (``jti -> exp``) and sessions (``sid -> exp``).

    A session entry revokes every access token carrying that ``sid`` (all
    the tokens of one refresh-token family: logout, reuse detection).  An
    entry is dropped once it is expired (past ``exp + grace``, the verifier's
    leeway), since the expiry check rejects those tokens anyway.  The size is
    bounded: when full, the entry closest to its expiry goes first.
    """

    def __init__(
        self,
        max_entries: int = 100_000,
        grace: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._entries: dict[str, float] = {}
        self._sessions: dict[str, float] = {}
        self._heap: list[tuple[float, int, str]] = []  # (exp, 0 = jti | 1 = sid, key)
        self._max = max_entries
        self._grace = grace
        self._clock = clock

    def add(self, jti: str, exp: float) -> None:
        """Record ``jti`` as revoked until ``exp``."""
        self._add(0, jti, exp)

    def add_session(self, sid: str, exp: float) -> None:
        """Record every token whose ``sid`` claim is ``sid`` as revoked until ``exp``."""
        self._add(1, sid, exp)

    def revoked(self, jti: object, sid: object = None) -> bool:
        """True when the token's ``jti`` or its session ``sid`` is revoked: two dict lookups."""
        now = self._clock()
        return _live(self._entries, jti, now, self._grace) or _live(
            self._sessions, sid, now, self._grace
        )

    def __contains__(self, jti: object) -> bool:
        return _live(self._entries, jti, self._clock(), self._grace)

    def __len__(self) -> int:
        return len(self._entries) + len(self._sessions)

    def prune(self, now: float | None = None) -> int:
        """Drop expired entries; returns how many went."""
        now = self._clock() if now is None else now
        dropped = 0
        while self._heap and self._heap[0][0] + self._grace <= now:
            dropped += self._pop()
        return dropped

    def _table(self, kind: int) -> dict[str, float]:
        return self._sessions if kind else self._entries

    def _add(self, kind: int, key: str, exp: float) -> None:
        now = self._clock()
        if exp + self._grace <= now:
            return
        self.prune(now)
        table = self._table(kind)
        if key not in table and len(self) >= self._max:
            self._evict_one()
        table[key] = max(exp, table.get(key, exp))
        heapq.heappush(self._heap, (table[key], kind, key))

    def _pop(self) -> int:
        """Pop the heap's first item; 1 if it was a live entry (now removed), else 0."""
        exp, kind, key = heapq.heappop(self._heap)
        table = self._table(kind)
        if table.get(key) != exp:
            return 0  # superseded by a later exp for the same key
        del table[key]
        return 1

    def _evict_one(self) -> None:
        while self._heap:
            if self._pop():
                logger.warning("revocation set full; dropped the entry closest to expiry")
                return


def _live(table: dict[str, float], key: object, now: float, grace: float) -> bool:
    if not isinstance(key, str):
        return False
    exp = table.get(key)
    return exp is not None and exp + grace > now


class RevocationSource(Protocol):
    """What keeps a :class:`RevocationSet` in sync: the HTTP feed or a Redis stream."""

    revocations: RevocationSet
    stance: str
    last_sync: float | None
    failures: int

    @property
    def cursor(self) -> int | str: ...

    def start(self) -> None: ...

    async def close(self) -> None: ...

    def staleness(self) -> float: ...

    def is_stale(self) -> bool: ...

    def check(self) -> None: ...


class SyncedSource:
    """Staleness bookkeeping shared by the followers, with one log line per change.

    ``last_sync`` is the time of the last good answer; past ``max_staleness``
    seconds without one the source is *stale*: a WARNING is logged once when
    it becomes stale and an INFO once when it recovers, and with
    ``stance="refuse"`` :meth:`check` raises :class:`GuardUnavailableError`.
    """

    what = "revocation sync"

    def __init__(
        self,
        revocations: RevocationSet,
        max_staleness: float,
        stance: str,
        clock: Callable[[], float],
    ) -> None:
        self.revocations = revocations
        self.max_staleness = max_staleness
        self.stance = stance
        self._clock = clock
        self.last_sync: float | None = None
        self.failures = 0
        self._started_at: float | None = None
        self._stale = False
        self._failing = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start following in the background (idempotent)."""
        if self._task is None or self._task.done():
            self._started_at = self._clock()
            self._stopping = False
            self._task = asyncio.ensure_future(self._run())

    async def _stop(self) -> None:
        # A client library may swallow the cancellation of a blocking read and
        # retry it; the flag ends the loop after that read in any case.
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=_STOP_WAIT_SECONDS)
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError

    def staleness(self) -> float:
        """Seconds since the last good answer (or since start when there was none)."""
        since = self.last_sync if self.last_sync is not None else self._started_at
        return 0.0 if since is None else self._clock() - since

    def is_stale(self) -> bool:
        """True when the set may be missing revocations for longer than allowed."""
        stale = self.staleness() > self.max_staleness
        if stale != self._stale:
            self._stale = stale
            self._log_stale_change(stale)
        return stale

    def check(self) -> None:
        """Raise :class:`GuardUnavailableError` when stale and the stance is ``refuse``."""
        if self.is_stale() and self.stance == "refuse":
            raise GuardUnavailableError("revocation_stale", "revocation list is out of date")

    def _synced(self) -> None:
        self.last_sync = self._clock()
        if self._failing:
            self._failing = False
            logger.info("%s is back after %d failed attempts", self.what, self.failures)
        self.is_stale()

    def _failed(self, exc: BaseException, delay: float) -> None:
        self.failures += 1
        # The first failure of an outage is a warning; the retries are not news.
        level = logging.DEBUG if self._failing else logging.WARNING
        self._failing = True
        logger.log(level, "%s failed (%s); retrying in %.1fs", self.what, type(exc).__name__, delay)
        self.is_stale()

    def _log_stale_change(self, stale: bool) -> None:
        if stale:
            serving = "refusing requests" if self.stance == "refuse" else "still serving"
            logger.warning(
                "%s is stale: no update for %.0fs (limit %.0fs); %s",
                self.what,
                self.staleness(),
                self.max_staleness,
                serving,
            )
        else:
            logger.info("%s is up to date again", self.what)


class RevocationFollower(SyncedSource):
    """Long-polls ``GET url?after=CURSOR&wait=SECONDS`` and feeds a :class:`RevocationSet`.

    Events name a ``jti`` (one token) or a ``sid`` (a whole session).  After
    a failure it retries with exponential backoff (with jitter), from the
    last cursor.  Staleness and the stance: see :class:`SyncedSource`.
    """

    what = "revocation feed"

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
        super().__init__(revocations, max_staleness, stance, clock)
        self.url = url
        self._auth = basic_auth_header(client_id, client_secret)
        self._http = SessionRef(session, wait + 10)
        self._wait = wait
        self._backoff = (backoff_initial, backoff_max)
        self._max_bytes = max_bytes
        self.cursor = 0

    async def close(self) -> None:
        """Stop following and close an owned HTTP session."""
        await self._stop()
        await self._http.close()

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
        for kind, key, exp in events:
            if kind == "sid":
                self.revocations.add_session(key, exp)
            else:
                self.revocations.add(key, exp)
        self.cursor = max(self.cursor, cursor)
        self._synced()
        return len(events)

    async def _run(self) -> None:
        delay = self._backoff[0]
        catch_up = True  # first answer at once (start, reconnect), then long-poll
        while not self._stopping:
            started = self._clock()
            try:
                applied = await self.poll_once(0 if catch_up else None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self._failed(exc, delay)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
                delay = min(delay * 2, self._backoff[1])
                catch_up = True
                continue
            delay = self._backoff[0]
            catch_up = False
            self.revocations.prune()
            if not applied and self._clock() - started < _MIN_POLL_SECONDS:
                # A feed that answers at once with nothing must not make us spin.
                await asyncio.sleep(_MIN_POLL_SECONDS)


def _parse_feed(body: bytes) -> tuple[int, list[tuple[str, str, float]]]:
    """The cursor and the ``(kind, key, exp)`` of each well-formed event (kind: jti or sid)."""
    document: Any = orjson.loads(body)
    if not isinstance(document, dict) or type(document.get("cursor")) is not int:
        raise ValueError("revocation feed answer has no integer cursor")
    raw_events = document.get("events", [])
    if not isinstance(raw_events, list):
        raise ValueError("revocation feed 'events' is not a list")
    events: list[tuple[str, str, float]] = []
    for event in raw_events:
        parsed = _parse_event(event)
        if parsed is not None:
            events.append(parsed)
    return document["cursor"], events


def _parse_event(event: Any) -> tuple[str, str, float] | None:
    if not isinstance(event, dict) or not isinstance(event.get("exp"), int | float):
        return None
    for kind in ("jti", "sid"):
        if isinstance(event.get(kind), str):
            return kind, event[kind], float(event["exp"])
    return None

"""The authority's JWKS, cached: honours max-age, refetches on unknown ``kid``, survives outages."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import orjson

from jwtmesh.jose import JoseError, Key, KeySet

from ._http import SessionRef, SessionSource, read_limited
from ._settings import DEFAULT_ALGORITHMS

__all__ = ["JWKSCache"]

logger = logging.getLogger(__name__)


class JWKSCache:
    """Keeps the current public keys of one issuer.

    * The TTL is the response's ``Cache-Control: max-age``, bounded to
      ``[min_ttl, max_ttl]``; when it runs out the old keys keep serving
      while one background fetch runs.
    * :meth:`refresh_for_kid` fetches again for a ``kid`` it does not know,
      at most once per ``min_refetch_interval``.
    * Only one fetch runs at a time: concurrent callers await the same one.
    * A failed fetch (authority down, oversized body, garbage) keeps the last
      good key set.
    * Only keys whose ``alg`` is in ``algorithms`` are kept; symmetric
      (``oct``) keys never come from a JWKS.  ``extra_keys`` (for instance an
      HMAC key given in configuration) are always part of the set.
    """

    def __init__(
        self,
        url: str,
        *,
        session: SessionSource = None,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        min_ttl: float = 30.0,
        max_ttl: float = 3600.0,
        default_ttl: float = 300.0,
        min_refetch_interval: float = 10.0,
        max_bytes: int = 65536,
        max_keys: int = 32,
        timeout: float = 5.0,
        extra_keys: Sequence[Key] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._http = SessionRef(session, timeout)
        self._algorithms = frozenset(algorithms)
        self._min_ttl, self._max_ttl, self._default_ttl = min_ttl, max_ttl, default_ttl
        self._min_interval = min_refetch_interval
        self._max_bytes, self._max_keys = max_bytes, max_keys
        self._timeout = timeout
        self._extra = list(extra_keys)
        self._clock = clock
        self.keys: KeySet = KeySet(list(self._extra))
        self.fetched_at: float | None = None
        self.expires_at: float = 0.0
        self.fetch_count = 0
        self._last_attempt: float | None = None
        self._inflight: asyncio.Task[bool] | None = None
        self._background: set[asyncio.Task[bool]] = set()

    # ------------------------------------------------------------- public API
    def age(self) -> float | None:
        """Seconds since the last successful fetch, or None if there never was one."""
        return None if self.fetched_at is None else self._clock() - self.fetched_at

    @property
    def key_count(self) -> int:
        """Number of usable keys held now."""
        return len(self.keys)

    async def get(self) -> KeySet:
        """The current key set; waits for the first fetch, refreshes expired keys in background."""
        if self.fetched_at is None:
            await self._refresh_limited()
        elif self._clock() >= self.expires_at and self._may_fetch():
            task = asyncio.ensure_future(self._refresh_limited())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return self.keys

    async def refresh_for_kid(self, kid: str | None) -> bool:
        """Fetch again because a token names ``kid``; True when ``kid`` is now known."""
        if kid is None:
            return False
        if self.keys.get(kid) is None:
            await self._refresh_limited()
        return self.keys.get(kid) is not None

    async def refresh(self) -> bool:
        """Fetch now, ignoring the refetch interval (still one fetch at a time)."""
        return await self._single_flight()

    async def close(self) -> None:
        """Stop background work and close an owned HTTP session."""
        for task in list(self._background):
            task.cancel()
        await self._http.close()

    # --------------------------------------------------------------- internals
    def _may_fetch(self) -> bool:
        if self._inflight is not None:
            return True
        last = self._last_attempt
        return last is None or self._clock() - last >= self._min_interval

    async def _refresh_limited(self) -> bool:
        if not self._may_fetch():
            return False
        return await self._single_flight()

    async def _single_flight(self) -> bool:
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._fetch())
            self._inflight.add_done_callback(self._clear_inflight)
        # shield: a caller that gives up must not cancel the fetch the others wait for.
        return await asyncio.shield(self._inflight)

    def _clear_inflight(self, _task: asyncio.Task[bool]) -> None:
        self._inflight = None

    async def _fetch(self) -> bool:
        self.fetch_count += 1
        self._last_attempt = self._clock()
        try:
            body, ttl = await self._download()
            keys = self._parse(body)
        except (aiohttp.ClientError, TimeoutError, ValueError, JoseError) as exc:
            logger.warning(
                "JWKS fetch failed (%s); keeping the last good key set", type(exc).__name__
            )
            return False
        self.keys = keys
        self.fetched_at = self._clock()
        self.expires_at = self.fetched_at + ttl
        return True

    async def _download(self) -> tuple[bytes, float]:
        session = self._http.get()
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        headers = {"Accept": "application/jwk-set+json, application/json"}
        async with session.get(
            self.url, headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            if response.status != 200:
                raise ValueError(f"JWKS answered HTTP {response.status}")
            body = await read_limited(response, self._max_bytes)
            return body, self._ttl(response.headers.get("Cache-Control"))

    def _parse(self, body: bytes) -> KeySet:
        document: Any = orjson.loads(body)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("JWKS is not an object with a 'keys' list")
        entries = document["keys"]
        if len(entries) > self._max_keys:
            raise ValueError(f"JWKS has more than {self._max_keys} keys")
        usable = [jwk for jwk in entries if self._acceptable(jwk)]
        keys = KeySet.from_jwks({"keys": usable}, max_keys=self._max_keys)
        if not len(keys):
            raise ValueError("JWKS has no usable key")
        return KeySet([*self._extra, *keys]) if self._extra else keys

    def _acceptable(self, jwk: Any) -> bool:
        # RFC 8725 3.1: the algorithm comes from the key, and only allowed ones are kept.
        return (
            isinstance(jwk, dict)
            and jwk.get("kty") != "oct"
            and jwk.get("alg") in self._algorithms
            and jwk.get("use", "sig") == "sig"
        )

    def _ttl(self, cache_control: str | None) -> float:
        ttl = self._default_ttl
        for directive in (cache_control or "").lower().split(","):
            name, _, value = directive.strip().partition("=")
            if name in ("no-cache", "no-store"):
                ttl = 0.0
                break
            if name == "max-age" and value.strip().isdigit():
                ttl = float(value.strip())
        return min(max(ttl, self._min_ttl), self._max_ttl)

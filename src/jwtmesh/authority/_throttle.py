"""Throttling of failed logins and client authentications, with exponential backoff.

Failures are counted per *subject* (a username at ``/login``, a ``client_id`` at
``/oauth/token``) and per client *address*. The first ``free`` failures of a
key cost nothing; each further one locks the key for twice as long as the one
before (``base``, ``2 * base``, ``4 * base`` ... at most ``max_delay``). While a
key is locked every attempt is answered ``429`` with ``Retry-After`` and is not
even tried, so a wrong and a right password get the same answer.

A success clears the subject's counter, never the address's: otherwise one
valid account would let an address reset its own counter between guesses.

Unknown usernames are counted exactly like known ones (the throttle never
looks a user up), so a lockout tells nothing about whether an account exists.

Counts live in this process (a bounded LRU) or, with ``JWTMESH_REDIS_URL``, in
Redis, shared by every worker; should Redis fail, this process's counts are
used until it is back. Keys are SHA-256 digests: no username reaches Redis.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from jwtmesh.authority._errors import OAuthError, SettingsError

if TYPE_CHECKING:
    from jwtmesh.authority._settings import AuthoritySettings

__all__ = [
    "CLIENT_AUTH",
    "LOGIN",
    "Backoff",
    "MemoryCounters",
    "RedisCounters",
    "Throttle",
    "ThrottleKind",
    "client_address",
    "parse_networks",
    "throttle_from_settings",
]

logger = logging.getLogger(__name__)

THROTTLED_ERROR = "slow_down"  # RFC 8628 section 3.5, registered for the token endpoint
_IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ThrottleKind:
    """What is throttled: a name for the keys and the OAuth error that counts as a failure."""

    name: str
    counted_error: str


LOGIN = ThrottleKind("login", "invalid_grant")
CLIENT_AUTH = ThrottleKind("client", "invalid_client")


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a key is locked after its ``failures``-th failure (0 while still free)."""

    free: int
    base: float = 1.0
    max_delay: float = 900.0

    def delay(self, failures: int) -> float:
        """``base * 2 ** (failures - free - 1)``, capped at ``max_delay``."""
        excess = failures - self.free
        if excess <= 0:
            return 0.0
        if excess > 64:  # 2 ** 64 seconds is past any cap; avoid an overflow
            return self.max_delay
        return float(min(self.base * 2 ** (excess - 1), self.max_delay))


class Counters(Protocol):
    """Where failure counts are kept."""

    async def locked_for(self, keys: Sequence[str], now: float) -> float:
        """Seconds until the last of ``keys`` is unlocked (0 when none is locked)."""

    async def fail(self, key: str, backoff: Backoff, now: float) -> float:
        """Count a failure of ``key``; return the lock it now has, in seconds."""

    async def reset(self, key: str) -> None:
        """Forget ``key``'s failures."""


@dataclass(slots=True)
class _Entry:
    failures: int
    locked_until: float
    last_failure: float


class MemoryCounters:
    """Counts in this process: an LRU of at most ``max_entries`` keys, idle ones forgotten.

    When full, the least recently failed key is dropped; an attacker spraying
    usernames can evict account counters, but not the counter of its address.
    """

    def __init__(self, max_entries: int = 100_000, forget_after: float = 3600.0) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max_entries = max_entries
        self._forget_after = forget_after
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    async def locked_for(self, keys: Sequence[str], now: float) -> float:
        """See :class:`Counters`."""
        with self._lock:
            until = [self._live(key, now) for key in keys]
        return max([e.locked_until - now for e in until if e is not None] + [0.0])

    async def fail(self, key: str, backoff: Backoff, now: float) -> float:
        """See :class:`Counters`."""
        with self._lock:
            entry = self._live(key, now) or _Entry(0, 0.0, now)
            entry.failures += 1
            entry.last_failure = now
            delay = backoff.delay(entry.failures)
            if delay:
                entry.locked_until = max(entry.locked_until, now + delay)
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return delay

    async def reset(self, key: str) -> None:
        """See :class:`Counters`."""
        with self._lock:
            self._entries.pop(key, None)

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        idle = now - max(entry.last_failure, entry.locked_until)
        if idle > self._forget_after:
            del self._entries[key]
            return None
        return entry


# One hash per key: "n" failures, "until" (epoch seconds) of the current lock.
_FAIL_SCRIPT = """
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local free = tonumber(ARGV[1])
local delay = 0
if n > free then
  delay = math.min(tonumber(ARGV[2]) * 2 ^ math.min(n - free - 1, 64), tonumber(ARGV[3]))
  local untl = tonumber(ARGV[4]) + delay
  local old = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
  if untl > old then redis.call('HSET', KEYS[1], 'until', tostring(untl)) end
end
redis.call('EXPIRE', KEYS[1], math.max(tonumber(ARGV[5]), math.ceil(delay) + 1))
return tostring(delay)
"""


class RedisCounters:
    """Counts in Redis, shared by every worker; this process's counts while Redis fails.

    ``now`` comes from the caller's clock: the workers' hosts must keep time (NTP).
    """

    def __init__(
        self,
        url: str,
        prefix: str = "jwtmesh:throttle:",
        forget_after: float = 3600.0,
        fallback: MemoryCounters | None = None,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._ttl = max(1, math.ceil(forget_after))
        self.fallback = fallback or MemoryCounters(forget_after=forget_after)
        self._client: Any = None
        self._script: Any = None

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(self._url, socket_timeout=1.0)
            self._script = self._client.register_script(_FAIL_SCRIPT)
        return self._client

    async def locked_for(self, keys: Sequence[str], now: float) -> float:
        """See :class:`Counters`."""
        try:
            pipe = self._redis().pipeline(transaction=False)
            for key in keys:
                pipe.hget(self._prefix + key, "until")
            values = await pipe.execute()
        except Exception as exc:
            _redis_failed(exc)
            return await self.fallback.locked_for(keys, now)
        return max([float(v) - now for v in values if v is not None] + [0.0])

    async def fail(self, key: str, backoff: Backoff, now: float) -> float:
        """See :class:`Counters`."""
        args = [backoff.free, backoff.base, backoff.max_delay, now, self._ttl]
        try:
            self._redis()
            delay = await self._script(keys=[self._prefix + key], args=args)
        except Exception as exc:
            _redis_failed(exc)
            return await self.fallback.fail(key, backoff, now)
        return float(delay)

    async def reset(self, key: str) -> None:
        """See :class:`Counters`."""
        try:
            await self._redis().delete(self._prefix + key)
        except Exception as exc:
            _redis_failed(exc)
        await self.fallback.reset(key)

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _redis_failed(exc: Exception) -> None:
    logger.warning("throttle: Redis unavailable (%s); counting in this process", type(exc).__name__)


class Throttle:
    """Locks subjects and addresses after repeated failures; see the module docstring."""

    def __init__(
        self,
        counters: Counters,
        subject_backoff: Backoff,
        address_backoff: Backoff,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.counters = counters
        self.subject_backoff = subject_backoff
        self.address_backoff = address_backoff
        self.clock = clock

    @contextlib.asynccontextmanager
    async def attempt(
        self, kind: ThrottleKind, subject: str | None, address: str | None
    ) -> AsyncIterator[None]:
        """Refuse with 429 while locked; count a failure when the body raises ``kind``'s error.

        A success (the body returns) clears the subject's counter.
        """
        subject_key, address_key = _key(kind, "s", subject), _key(kind, "a", address)
        keys = [k for k in (subject_key, address_key) if k is not None]
        wait = await self.counters.locked_for(keys, self.clock())
        if wait > 0:
            logger.info("%s throttled for %d s", kind.name, math.ceil(wait))
            raise throttled(wait)
        try:
            yield
        except OAuthError as exc:
            if exc.error == kind.counted_error:
                await self._failed(subject_key, address_key)
            raise
        if subject_key is not None:
            await self.counters.reset(subject_key)

    async def aclose(self) -> None:
        """Release the counters' connections (Redis)."""
        close = getattr(self.counters, "aclose", None)
        if close is not None:
            await close()

    async def _failed(self, subject_key: str | None, address_key: str | None) -> None:
        now = self.clock()
        if subject_key is not None:
            await self.counters.fail(subject_key, self.subject_backoff, now)
        if address_key is not None:
            await self.counters.fail(address_key, self.address_backoff, now)


def throttled(wait: float) -> OAuthError:
    """The 429 answer, with ``Retry-After`` in whole seconds (RFC 9110 section 10.2.3)."""
    seconds = max(1, math.ceil(wait))
    return OAuthError(
        THROTTLED_ERROR,
        f"too many failed attempts; retry after {seconds} s",
        429,
        {"Retry-After": str(seconds)},
    )


def _key(kind: ThrottleKind, role: str, value: str | None) -> str | None:
    if not value:
        return None
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{kind.name}:{role}:{digest}"


def parse_networks(field: str, values: Iterable[str]) -> tuple[_IpNetwork, ...]:
    """IP addresses or CIDR blocks; a bad one raises :class:`SettingsError` naming ``field``."""
    try:
        return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())
    except ValueError as exc:
        raise SettingsError(field, f"not an IP address or network ({exc})") from None


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[_IpNetwork]
) -> str | None:
    """The client's address: the peer, or, behind trusted proxies, from ``X-Forwarded-For``.

    The header is read right to left, skipping trusted proxies; the first other
    address is the client. From an untrusted peer the header is ignored, since
    anyone can write it.
    """
    if peer is None or not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop if _is_ip(hop) else peer
    return hops[0] if hops and _is_ip(hops[0]) else peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: Sequence[_IpNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def throttle_from_settings(settings: AuthoritySettings) -> Throttle | None:
    """The throttle the settings describe, or ``None`` when it is disabled."""
    if not settings.throttle_enabled:
        return None
    counters: Counters
    if settings.redis_url:
        counters = RedisCounters(
            settings.redis_url,
            settings.throttle_redis_prefix,
            settings.throttle_forget_after,
            MemoryCounters(settings.throttle_max_entries, settings.throttle_forget_after),
        )
    else:
        counters = MemoryCounters(settings.throttle_max_entries, settings.throttle_forget_after)
    base, cap = settings.throttle_base_delay, settings.throttle_max_delay

    return Throttle(
        counters,
        Backoff(settings.throttle_free_failures, base, cap),
        Backoff(settings.throttle_free_failures_per_address, base, cap),
    )

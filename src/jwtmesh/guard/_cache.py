"""A small LRU whose entries also expire."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["ExpiringLRU", "token_digest"]

T = TypeVar("T")


def token_digest(token: str, *extra: str) -> bytes:
    """SHA-256 of the token (and of any extra parts): the cache key that holds no secret."""
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass"))
    for part in extra:
        digest.update(b"\x00" + part.encode("utf-8"))
    return digest.digest()


K = TypeVar("K", bytes, str)


class ExpiringLRU(Generic[K, T]):
    """At most ``max_entries`` values, each valid until its own deadline."""

    def __init__(self, max_entries: int) -> None:
        self._data: OrderedDict[K, tuple[float, T]] = OrderedDict()
        self._max = max_entries

    def get(self, key: K, now: float) -> T | None:
        """The value if present and not expired (and mark it recently used)."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if now >= entry[0]:
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry[1]

    def put(self, key: K, value: T, until: float) -> None:
        """Store ``value`` until the time ``until``; evicts the least recently used."""
        if self._max <= 0:
            return
        self._data[key] = (until, value)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def discard(self, key: K) -> None:
        """Forget ``key``."""
        self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)

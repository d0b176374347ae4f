"""One shared aiohttp ClientSession, created lazily inside the running event loop."""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import quote

import aiohttp

__all__ = ["SessionRef", "SessionSource", "basic_auth_header", "read_limited"]

SessionSource = aiohttp.ClientSession | Callable[[], aiohttp.ClientSession] | None
"""A session, a function returning the shared one, or None (own session, made on first use)."""


class SessionRef:
    """Resolves a :data:`SessionSource`; closes the session only when it made it."""

    def __init__(self, source: SessionSource = None, timeout: float = 5.0) -> None:
        self._source = source
        self._own: aiohttp.ClientSession | None = None
        self._timeout = timeout

    def get(self) -> aiohttp.ClientSession:
        """The session to use now."""
        if isinstance(self._source, aiohttp.ClientSession):
            return self._source
        if self._source is not None:
            return self._source()
        if self._own is None or self._own.closed:
            self._own = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._own

    async def close(self) -> None:
        """Close the session if this reference created it."""
        if self._own is not None:
            await self._own.close()
            self._own = None


def basic_auth_header(client_id: str, client_secret: str) -> str:
    """HTTP Basic credentials for an OAuth client, form-encoded first (RFC 6749 2.3.1)."""
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


class BodyTooLargeError(ValueError):
    """A response body exceeded its limit."""


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Read at most ``limit`` bytes of body, raising :class:`BodyTooLargeError` beyond it."""
    if response.content_length is not None and response.content_length > limit:
        raise BodyTooLargeError("response body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(16384):
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError("response body too large")
        chunks.append(chunk)
    return b"".join(chunks)

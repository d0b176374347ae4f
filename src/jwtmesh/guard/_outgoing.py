"""Tokens for outgoing calls: client credentials per audience, token exchange (RFC 8693)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from ._cache import ExpiringLRU, token_digest
from ._errors import TokenEndpointError
from ._http import SessionRef, SessionSource, basic_auth_header, read_limited

__all__ = ["ServiceClient", "ServiceResponse", "ServiceTokenSource"]

logger = logging.getLogger(__name__)
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@dataclass(frozen=True)
class _Issued:
    token: str
    renew_at: float
    expires_at: float


class ServiceTokenSource:
    """Gets, caches and renews this service's own access tokens, one per audience.

    A token is renewed once ``min(20% of its lifetime, renew_margin)`` is left
    (``renew_ratio=0.8`` by default); while the token endpoint fails, a
    token that is still valid keeps being used.  Only one request per
    audience runs at a time.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        session: SessionSource = None,
        scope: str | None = None,
        renew_ratio: float = 0.8,
        renew_margin: float = 30.0,
        exchange_cache_size: int = 256,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token_url = token_url
        self._auth = basic_auth_header(client_id, client_secret)
        self._http = SessionRef(session, timeout)
        self._scope = scope
        self._ratio, self._margin = renew_ratio, renew_margin
        self._timeout = timeout
        self._clock = clock
        self._tokens: dict[str, _Issued] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._exchanged: ExpiringLRU[bytes, str] = ExpiringLRU(exchange_cache_size)
        self.fetch_count = 0

    async def token(self, audience: str, *, force: bool = False) -> str:
        """A client-credentials token for ``audience``; ``force`` renews the current one."""
        before = self._tokens.get(audience)
        if not force and before is not None and self._clock() < before.renew_at:
            return before.token
        async with self._locks.setdefault(audience, asyncio.Lock()):
            current = self._tokens.get(audience)
            if current is not None and current is not before and self._clock() < current.renew_at:
                return current.token  # renewed by another caller while we waited
            return await self._renew(audience, current, force)

    async def exchange(self, subject_token: str, audience: str, *, force: bool = False) -> str:
        """Exchange a caller's token for one whose audience is ``audience`` (RFC 8693)."""
        key = token_digest(subject_token, audience)
        cached = None if force else self._exchanged.get(key, self._clock())
        if cached is not None:
            return cached
        issued = await self._request(
            {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": subject_token,
                "subject_token_type": ACCESS_TOKEN_TYPE,
                "requested_token_type": ACCESS_TOKEN_TYPE,
                "audience": audience,
            }
        )
        self._exchanged.put(key, issued.token, issued.renew_at)
        return issued.token

    async def close(self) -> None:
        """Close an owned HTTP session."""
        await self._http.close()

    async def _renew(self, audience: str, current: _Issued | None, force: bool) -> str:
        form = {"grant_type": "client_credentials", "audience": audience}
        if self._scope:
            form["scope"] = self._scope
        try:
            issued = await self._request(form)
        except TokenEndpointError:
            if force or current is None or self._clock() >= current.expires_at:
                raise
            logger.warning("token renewal failed; using the current token until it expires")
            return current.token
        self._tokens[audience] = issued
        return issued.token

    async def _request(self, form: dict[str, str]) -> _Issued:
        self.fetch_count += 1
        headers = {"Authorization": self._auth, "Accept": "application/json"}
        try:
            async with self._http.get().post(
                self.token_url,
                data=form,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                body = await read_limited(response, 65536)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TokenEndpointError(f"token endpoint unreachable ({type(exc).__name__})") from None
        return self._parse(status, body)

    def _parse(self, status: int, body: bytes) -> _Issued:
        try:
            answer: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            raise TokenEndpointError(f"token endpoint answered HTTP {status}", status=status)
        if status != 200:
            error = answer.get("error") if isinstance(answer.get("error"), str) else None
            raise TokenEndpointError(f"token request refused ({error})", status=status, error=error)
        token, lifetime = answer.get("access_token"), answer.get("expires_in", 300)
        kind = answer.get("token_type", "Bearer")
        if (
            not isinstance(token, str)
            or not token
            or not isinstance(kind, str)
            or kind.lower() not in ("bearer", "n_a")
            or not isinstance(lifetime, int | float)
            or lifetime <= 0
        ):
            raise TokenEndpointError("token endpoint answer is not usable", status=status)
        now = self._clock()
        early = min(lifetime * (1 - self._ratio), self._margin)
        return _Issued(token, now + lifetime - early, now + lifetime)


@dataclass(frozen=True)
class ServiceResponse:
    """A fully read response of a :class:`ServiceClient` call."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)


class ServiceClient:
    """Calls one service with a bearer token; on a 401 renews the token and retries once.

    ``on_behalf_of`` (a caller's access token) makes the call with an
    exchanged token (RFC 8693) instead of the service's own.
    """

    def __init__(
        self,
        tokens: ServiceTokenSource,
        audience: str,
        *,
        base_url: str = "",
        session: SessionSource = None,
        timeout: float = 10.0,
        max_body: int = 16 * 1024 * 1024,
    ) -> None:
        self.tokens = tokens
        self.audience = audience
        self.base_url = base_url.rstrip("/")
        self._http = SessionRef(session, timeout)
        self._max_body = max_body

    async def request(
        self, method: str, path: str, *, on_behalf_of: str | None = None, **kwargs: Any
    ) -> ServiceResponse:
        """Send one request (``kwargs`` as for ``aiohttp``: json, data, params, headers...)."""
        token = await self._token(on_behalf_of, force=False)
        response = await self._send(method, path, token, kwargs)
        if response.status == 401:
            token = await self._token(on_behalf_of, force=True)
            response = await self._send(method, path, token, kwargs)
        return response

    async def get(self, path: str, **kwargs: Any) -> ServiceResponse:
        """``request("GET", path, ...)``."""
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> ServiceResponse:
        """``request("POST", path, ...)``."""
        return await self.request("POST", path, **kwargs)

    async def close(self) -> None:
        """Close an owned HTTP session."""
        await self._http.close()

    async def _token(self, on_behalf_of: str | None, *, force: bool) -> str:
        if on_behalf_of is not None:
            return await self.tokens.exchange(on_behalf_of, self.audience, force=force)
        return await self.tokens.token(self.audience, force=force)

    async def _send(
        self, method: str, path: str, token: str, kwargs: dict[str, Any]
    ) -> ServiceResponse:
        headers = {**kwargs.get("headers", {}), "Authorization": f"Bearer {token}"}
        options = {k: v for k, v in kwargs.items() if k != "headers"}
        async with self._http.get().request(
            method, self.base_url + path, headers=headers, **options
        ) as response:
            body = await read_limited(response, self._max_body)
            return ServiceResponse(response.status, dict(response.headers), body)

"""Three ways to turn a credential into a :class:`Principal`, behind one protocol."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import aiohttp
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from jwtmesh.jose import ExpiredTokenError, RevokedTokenError, UnknownKeyError, Validator

from ._cache import ExpiringLRU, token_digest
from ._errors import GuardUnavailableError, InactiveTokenError, UnknownSessionError
from ._http import SessionRef, SessionSource, basic_auth_header, read_limited
from ._jwks import JWKSCache
from ._principal import Principal, RoleResolver
from ._revocation import RevocationSet, RevocationSource

__all__ = [
    "SESSION_KEY_PREFIX",
    "Authenticator",
    "IntrospectionVerifier",
    "JWTVerifier",
    "SessionVerifier",
]

logger = logging.getLogger(__name__)
SESSION_KEY_PREFIX = "jwtmesh:session:"


@runtime_checkable
class Authenticator(Protocol):
    """Turns a bearer credential into a :class:`Principal`.

    Raises a :class:`jwtmesh.jose.InvalidTokenError` subclass for a credential
    it rejects, :class:`GuardUnavailableError` when it cannot decide now.
    """

    async def authenticate(self, token: str) -> Principal:
        """Check ``token`` and say who it stands for."""
        ...


class JWTVerifier:
    """Local verification of JWT access tokens (RFC 9068) against a cached JWKS.

    With ``cache_size > 0`` verified tokens are remembered (keyed by their
    SHA-256) until ``min(exp, now + cache_seconds)``; every hit is checked
    against the revocation set again.
    """

    def __init__(
        self,
        validator: Validator,
        jwks: JWKSCache | None = None,
        *,
        revocations: RevocationSet | None = None,
        follower: RevocationSource | None = None,
        resolve_roles: RoleResolver | None = None,
        cache_size: int = 0,
        cache_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.validator = validator
        self.jwks = jwks
        self.revocations = revocations
        self.follower = follower
        self._resolve = resolve_roles
        self._cache: ExpiringLRU[str, Principal] = ExpiringLRU(cache_size)
        self._cache_seconds = cache_seconds
        self._clock = clock

    async def authenticate(self, token: str) -> Principal:
        """Decode ``token`` (parse, verify, validate) and check it is not revoked.

        The cache is keyed by the token string itself: hashing it first would
        cost more than the rest of a hit.  The tokens it holds are ones this
        process was just handed, kept no longer than they are valid and never
        logged or exported.
        """
        if self.follower is not None:
            self.follower.check()
        now = self._clock()
        principal = self._cache.get(token, now)
        if principal is None:
            principal = Principal.from_claims(await self._decode(token, now), self._resolve)
            self._cache.put(token, principal, min(principal.expires_at, now + self._cache_seconds))
        revocations = self.revocations
        # Two dict lookups: the token's jti, and its session (sid: logout, reuse detection).
        if revocations is not None and revocations.revoked(principal.token_id, principal.session):
            self._cache.discard(token)
            raise RevokedTokenError("token has been revoked", claim="jti")
        return principal

    async def _decode(self, token: str, now: float) -> dict[str, Any]:
        if self.jwks is not None:
            self.validator.keys = await self.jwks.get()
        try:
            return self.validator.decode(token, now)
        except UnknownKeyError as exc:
            # Maybe the authority rotated keys: fetch the JWKS again (rate-limited).
            if self.jwks is None or not await self.jwks.refresh_for_kid(exc.kid):
                raise
            self.validator.keys = self.jwks.keys
            return self.validator.decode(token, now)


class IntrospectionVerifier:
    """Asks the authority about every token (RFC 7662), with an optional short cache."""

    def __init__(
        self,
        url: str,
        *,
        client_id: str,
        client_secret: str,
        audience: str | None = None,
        issuer: str | None = None,
        session: SessionSource = None,
        cache_seconds: float = 0.0,
        cache_size: int = 10_000,
        resolve_roles: RoleResolver | None = None,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._auth = basic_auth_header(client_id, client_secret)
        self._audience, self._issuer = audience, issuer
        self._http = SessionRef(session, timeout)
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._cache: ExpiringLRU[bytes, Principal] = ExpiringLRU(cache_size if cache_seconds else 0)
        self._resolve = resolve_roles
        self._clock = clock

    async def authenticate(self, token: str) -> Principal:
        """POST the token to the introspection endpoint and build the principal."""
        now = self._clock()
        key = token_digest(token)
        cached = self._cache.get(key, now)
        if cached is not None:
            return cached
        answer = await self._introspect(token)
        principal = self._principal(answer, now)
        self._cache.put(key, principal, min(principal.expires_at, now + self._cache_seconds))
        return principal

    async def close(self) -> None:
        """Close an owned HTTP session."""
        await self._http.close()

    async def _introspect(self, token: str) -> dict[str, Any]:
        form = {"token": token, "token_type_hint": "access_token"}
        headers = {"Authorization": self._auth, "Accept": "application/json"}
        try:
            async with self._http.get().post(
                self.url,
                data=form,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                allow_redirects=False,
            ) as response:
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status}")
                answer: Any = orjson.loads(await read_limited(response, 65536))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("introspection failed (%s)", type(exc).__name__)
            raise GuardUnavailableError(
                "introspection_unavailable", "the authority cannot be asked now"
            ) from None
        if not isinstance(answer, dict):
            raise GuardUnavailableError("introspection_unavailable", "unexpected answer")
        return answer

    def _principal(self, answer: dict[str, Any], now: float) -> Principal:
        # RFC 7662 2.2: anything but a literal true means inactive.
        if answer.get("active") is not True:
            raise InactiveTokenError("token is not active")
        _check_audience(answer, self._audience, self._issuer)
        exp = answer.get("exp")
        if isinstance(exp, int | float) and exp <= now:
            raise ExpiredTokenError("token has expired", claim="exp")
        return Principal.from_claims(answer, self._resolve)


def _check_audience(answer: Mapping[str, Any], audience: str | None, issuer: str | None) -> None:
    aud = answer.get("aud")
    if audience is not None and aud is not None:
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if audience not in audiences:
            raise InactiveTokenError("token is not for this audience", claim="aud")
    if issuer is not None and answer.get("iss") not in (None, issuer):
        raise InactiveTokenError("token is not from the expected issuer", claim="iss")


class SessionVerifier:
    """Looks an opaque session id up in Redis: ``prefix + sha256(id).hex() -> JSON``.

    The JSON holds ``sub, roles, scope, permissions, client_id, exp``; a
    missing key is an :class:`UnknownSessionError`.
    """

    def __init__(
        self,
        redis: aioredis.Redis | str,
        *,
        key_prefix: str = SESSION_KEY_PREFIX,
        resolve_roles: RoleResolver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._owned = isinstance(redis, str)
        self._redis = aioredis.Redis.from_url(redis) if isinstance(redis, str) else redis
        self._prefix = key_prefix
        self._resolve = resolve_roles
        self._clock = clock

    @staticmethod
    def key_for(session_id: str, prefix: str = SESSION_KEY_PREFIX) -> str:
        """The Redis key of a session id (the id itself is never stored)."""
        return prefix + hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()

    async def authenticate(self, token: str) -> Principal:
        """Load the session for ``token`` and build the principal."""
        try:
            raw = await self._redis.get(self.key_for(token, self._prefix))
        except (RedisError, OSError) as exc:
            logger.warning("session lookup failed (%s)", type(exc).__name__)
            raise GuardUnavailableError(
                "session_store_unavailable", "the session store cannot be reached"
            ) from None
        if raw is None:
            raise UnknownSessionError("no such session")
        return self._principal(raw)

    async def close(self) -> None:
        """Close the Redis client if this verifier created it."""
        if self._owned:
            await self._redis.aclose()

    def _principal(self, raw: bytes | str) -> Principal:
        try:
            record: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UnknownSessionError("session record is unreadable") from None
        if not isinstance(record, dict) or not isinstance(record.get("sub"), str):
            raise UnknownSessionError("session record is unreadable")
        exp = record.get("exp")
        if isinstance(exp, int | float) and exp <= self._clock():
            raise ExpiredTokenError("session has expired", claim="exp")
        return Principal.from_claims(record, self._resolve)

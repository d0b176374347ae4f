"""Server-side sessions in Redis: the baseline the benchmark compares tokens with.

When ``JWTMESH_SESSIONS_REDIS_URL`` is set, ``POST /login`` also starts a
session: a random 256-bit id goes back to the client as ``session_id``, and
Redis keeps ``jwtmesh:session:<sha256 hex of the id>`` -> JSON ``{sub, roles,
scope, permissions, client_id, exp, sid}``, the record the guard's
``SessionVerifier`` reads on every request.  The id itself is never stored.

A session lives as long as the login it came from (``refresh_ttl``): a
session client has no refresh step, so the session stands for both tokens.
``POST /logout`` with the session id as its bearer credential deletes it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from jwtmesh.authority._errors import OAuthError
from jwtmesh.authority._service import Authority
from jwtmesh.authority._settings import AuthoritySettings
from jwtmesh.authority._setup import load_policy
from jwtmesh.guard.policy import Policy
from jwtmesh.jose import Validator

__all__ = ["SESSION_KEY_PREFIX", "SessionStore"]

logger = logging.getLogger(__name__)

# The guard's SessionVerifier reads the same keys (its own constant: the
# authority may import nothing of the guard but its policy).
SESSION_KEY_PREFIX = "jwtmesh:session:"
_ID_BYTES = 32  # 256 bits of randomness: guessing an id is hopeless


class SessionStore:
    """Starts and ends server-side sessions for the login and logout routes."""

    def __init__(
        self,
        redis: aioredis.Redis,
        ttl: int,
        policy: Policy | None = None,
        *,
        key_prefix: str = SESSION_KEY_PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._ttl = ttl
        self._policy = policy
        self._prefix = key_prefix
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: AuthoritySettings) -> SessionStore | None:
        """The store ``JWTMESH_SESSIONS_REDIS_URL`` names, or None when sessions are off."""
        if settings.sessions_redis_url is None:
            return None
        redis = aioredis.Redis.from_url(settings.sessions_redis_url)

        return cls(redis, settings.refresh_ttl, load_policy(settings))

    def key_for(self, session_id: str) -> str:
        """The Redis key of a session id."""
        digest = hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()

        return self._prefix + digest

    @staticmethod
    def owns(credential: str) -> bool:
        """True when a bearer credential is a session id rather than a JWT."""
        return credential.count(".") != 2

    def record(self, claims: dict[str, Any]) -> dict[str, Any]:
        """What Redis keeps for a session started from an access token's ``claims``."""
        roles = sorted(str(r) for r in claims.get("roles", ()))
        record: dict[str, Any] = {
            "sub": claims["sub"],
            "roles": roles,
            "scope": claims.get("scope", ""),
            "client_id": claims.get("client_id"),
            "exp": int(self._clock()) + self._ttl,
            "sid": claims.get("sid"),
        }
        if self._policy is not None:
            record["permissions"] = sorted(self._policy.permissions_for(roles))

        return record

    async def start(self, authority: Authority, access_token: str) -> str:
        """A new session for the user of ``access_token`` (just issued); return its id."""
        # The token was signed a moment ago in this process: verifying its
        # signature is enough to read it, the claims need no validation.
        validator = Validator(authority.keyring.keyset, authority.issuer.issuer, None)
        record = self.record(validator.verify(access_token))
        session_id = secrets.token_urlsafe(_ID_BYTES)
        try:
            await self._redis.set(self.key_for(session_id), orjson.dumps(record), ex=self._ttl)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from None

        return session_id

    async def end(self, session_id: str) -> None:
        """Delete a session; 401 ``invalid_token`` when there is no such session."""
        try:
            deleted = await self._redis.delete(self.key_for(session_id))
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from None
        if not deleted:
            raise OAuthError(
                "invalid_token",
                "no such session",
                401,
                {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="session"'},
            )

    async def aclose(self) -> None:
        """Release the Redis connections."""
        await self._redis.aclose()


def _unavailable(exc: BaseException) -> OAuthError:
    logger.warning("session store unavailable (%s)", type(exc).__name__)

    return OAuthError("temporarily_unavailable", "the session store cannot be reached", 503)

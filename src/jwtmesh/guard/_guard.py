"""The guard of one service: an authenticator, its policy, JWKS and revocation feed, wired up."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from jwtmesh.jose import JWKError, Key, KeySet, Validator

from ._errors import SettingsError
from ._http import SessionRef
from ._jwks import JWKSCache
from ._principal import Principal
from ._revocation import RevocationFollower, RevocationSet, RevocationSource
from ._revocation_redis import RedisRevocationFollower
from ._settings import GuardSettings
from ._verifiers import Authenticator, IntrospectionVerifier, JWTVerifier, SessionVerifier
from .policy import Policy

__all__ = ["Guard"]

logger = logging.getLogger(__name__)


class Guard:
    """Everything a service embeds: built by :meth:`from_settings`, used by the middleware.

    ``start`` prefetches the JWKS and starts the revocation feed; ``close``
    stops them.  :class:`GuardMiddleware` calls both from the ASGI lifespan
    (and ``start`` lazily on the first request).
    """

    def __init__(
        self,
        authenticator: Authenticator,
        *,
        policy: Policy | None = None,
        jwks: JWKSCache | None = None,
        follower: RevocationSource | None = None,
        realm: str = "jwtmesh",
        public_paths: tuple[str, ...] = ("/healthz",),
        max_token_size: int = 8192,
        mode: str = "jwt",
        http: SessionRef | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.policy = policy
        self.jwks = jwks
        self.follower = follower
        self.realm = realm
        self.public_paths = frozenset(public_paths)
        self.max_token_size = max_token_size
        self.mode = mode
        self._http = http or SessionRef()
        self._started = False

    @classmethod
    def from_settings(
        cls,
        settings: GuardSettings,
        *,
        policy: Policy | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> Guard:
        """Build the guard ``settings`` describe (the policy file is read now)."""
        if policy is None and settings.policy_path:
            policy = Policy.load(settings.policy_path)
        http = SessionRef(session, settings.http_timeout)
        parts = _Parts(settings, policy, http)
        return cls(
            parts.authenticator(),
            policy=policy,
            jwks=parts.jwks,
            follower=parts.follower,
            realm=settings.realm,
            public_paths=settings.public_paths,
            max_token_size=settings.max_token_size,
            mode=settings.mode,
            http=http,
        )

    @property
    def started(self) -> bool:
        """True once :meth:`start` ran (and :meth:`close` did not since)."""
        return self._started

    async def start(self) -> None:
        """Fetch the JWKS once and start following revocations (idempotent)."""
        if self._started:
            return
        self._started = True
        if self.follower is not None:
            self.follower.start()
        if self.jwks is not None:
            await self.jwks.get()

    async def close(self) -> None:
        """Stop background work and close connections."""
        self._started = False
        if self.follower is not None:
            await self.follower.close()
        if self.jwks is not None:
            await self.jwks.close()
        closer = getattr(self.authenticator, "close", None)
        if closer is not None:
            await closer()
        await self._http.close()

    async def authenticate(self, token: str) -> Principal:
        """Check ``token`` with the configured authenticator."""
        return await self.authenticator.authenticate(token)

    def health(self) -> dict[str, Any]:
        """Status for a ``/healthz`` endpoint: JWKS age and revocation sync staleness."""
        report: dict[str, Any] = {"mode": self.mode}
        status = "ok"
        if self.jwks is not None:
            age = self.jwks.age()
            report["jwks"] = {
                "age_seconds": _rounded(age),
                "keys": self.jwks.key_count,
                "fetches": self.jwks.fetch_count,
            }
            if age is None and not self.jwks.key_count:
                status = "unavailable"
        if self.follower is not None:
            report["revocation"] = _revocation_report(self.follower)
            if self.follower.is_stale():
                status = "unavailable" if self.follower.stance == "refuse" else _worse(status)
        report["status"] = status
        return report


def _worse(status: str) -> str:
    return "unavailable" if status == "unavailable" else "degraded"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _revocation_report(follower: RevocationSource) -> dict[str, Any]:
    return {
        "staleness_seconds": _rounded(follower.staleness()),
        "stale": follower.is_stale(),
        "stance": follower.stance,
        "cursor": follower.cursor,
        "entries": len(follower.revocations),
        "synced": follower.last_sync is not None,
    }


class _Parts:
    """Builds the pieces of a guard from settings, sharing one HTTP session."""

    def __init__(self, settings: GuardSettings, policy: Policy | None, http: SessionRef) -> None:
        self.s = settings
        self.resolve = policy.permissions_for if policy is not None else None
        self.http = http
        self.revocations: RevocationSet | None = None
        self.follower = self._follower()
        self.jwks = self._jwks() if settings.mode == "jwt" else None

    def authenticator(self) -> Authenticator:
        if self.s.mode == "introspection":
            return self._introspection()
        if self.s.mode == "session":
            return SessionVerifier(str(self.s.redis_url), resolve_roles=self.resolve)
        return self._jwt()

    def _extra_keys(self) -> list[Key]:
        hmac_algs = [a for a in self.s.algorithms if a.startswith("HS")]
        if self.s.secret_key is None:
            return []
        if not hmac_algs:
            raise SettingsError("algorithms", "secret_key is given but no HS algorithm is allowed")
        try:
            return [Key.from_secret(self.s.secret_key, alg=hmac_algs[0])]
        except JWKError as exc:
            raise SettingsError("secret_key", str(exc)) from None

    def _jwks(self) -> JWKSCache | None:
        if self.s.jwks_url is None:
            return None
        return JWKSCache(
            self.s.jwks_url,
            session=self.http.get,
            algorithms=self.s.algorithms,
            min_ttl=self.s.jwks_min_ttl,
            max_ttl=self.s.jwks_max_ttl,
            min_refetch_interval=self.s.jwks_min_refetch_interval,
            max_bytes=self.s.jwks_max_bytes,
            max_keys=self.s.jwks_max_keys,
            timeout=self.s.http_timeout,
            extra_keys=self._extra_keys(),
        )

    def _jwt(self) -> JWTVerifier:
        s = self.s
        validator = Validator(
            KeySet(self._extra_keys()),
            s.issuer,
            s.audience,
            typ=s.typ,
            leeway=s.leeway,
            max_size=s.max_token_size,
            algorithms=s.algorithms,
        )
        return JWTVerifier(
            validator,
            self.jwks,
            revocations=self.revocations,
            follower=self.follower,
            resolve_roles=self.resolve,
            cache_size=s.token_cache_size,
            cache_seconds=s.token_cache_seconds,
        )

    def _introspection(self) -> IntrospectionVerifier:
        s = self.s
        return IntrospectionVerifier(
            str(s.introspection_url),
            client_id=str(s.client_id),
            client_secret=str(s.client_secret),
            audience=s.audience,
            issuer=s.issuer,
            session=self.http.get,
            cache_seconds=s.introspection_cache_seconds,
            resolve_roles=self.resolve,
            timeout=s.http_timeout,
        )

    def _follower(self) -> RevocationSource | None:
        s = self.s
        if not (s.revocation_url or s.revocation_redis_url):
            return None
        self.revocations = RevocationSet(s.revocation_max_entries, grace=s.leeway)
        if s.revocation_redis_url:
            return RedisRevocationFollower(
                s.revocation_redis_url,
                self.revocations,
                stream=s.revocation_stream,
                max_staleness=s.revocation_max_staleness,
                stance=s.revocation_stance,
            )
        return RevocationFollower(
            str(s.revocation_url),
            self.revocations,
            client_id=str(s.client_id),
            client_secret=str(s.client_secret),
            session=self.http.get,
            max_staleness=s.revocation_max_staleness,
            stance=s.revocation_stance,
        )

"""What every jwtmesh service embeds: credential in, :class:`Principal` out.

>>> settings = GuardSettings(issuer="https://auth.local", audience="orders",
...                          jwks_url="https://auth.local/.well-known/jwks.json")
>>> guard = Guard.from_settings(settings)
>>> app = GuardMiddleware(asgi_app, guard, health_path="/healthz")  # doctest: +SKIP

Three authenticators share one protocol (:class:`Authenticator`) and build
the same :class:`Principal`: :class:`JWTVerifier` (local, the default),
:class:`IntrospectionVerifier` (RFC 7662) and :class:`SessionVerifier`
(Redis).  The :class:`Policy` maps roles to permissions and routes to rules.
"""

from ._errors import (
    GuardError,
    GuardUnavailableError,
    InactiveTokenError,
    PolicyError,
    SettingsError,
    TokenEndpointError,
    UnknownSessionError,
)
from ._fastapi import (
    CurrentPrincipal,
    GuardHTTPException,
    bearer_scheme,
    current_principal,
    install,
    require,
    require_role,
)
from ._guard import Guard
from ._jwks import JWKSCache
from ._middleware import GuardMiddleware, Rejection
from ._outgoing import ServiceClient, ServiceResponse, ServiceTokenSource
from ._principal import Principal
from ._revocation import RevocationFollower, RevocationSet, RevocationSource
from ._revocation_redis import REVOCATION_STREAM, RedisRevocationFollower
from ._settings import DEFAULT_ALGORITHMS, GuardSettings
from ._verifiers import (
    SESSION_KEY_PREFIX,
    Authenticator,
    IntrospectionVerifier,
    JWTVerifier,
    SessionVerifier,
)
from .policy import Policy, RouteRule

__all__ = [
    "DEFAULT_ALGORITHMS",
    "REVOCATION_STREAM",
    "SESSION_KEY_PREFIX",
    "Authenticator",
    "CurrentPrincipal",
    "Guard",
    "GuardError",
    "GuardHTTPException",
    "GuardMiddleware",
    "GuardSettings",
    "GuardUnavailableError",
    "InactiveTokenError",
    "IntrospectionVerifier",
    "JWKSCache",
    "JWTVerifier",
    "Policy",
    "PolicyError",
    "Principal",
    "RedisRevocationFollower",
    "Rejection",
    "RevocationFollower",
    "RevocationSet",
    "RevocationSource",
    "RouteRule",
    "ServiceClient",
    "ServiceResponse",
    "ServiceTokenSource",
    "SessionVerifier",
    "SettingsError",
    "TokenEndpointError",
    "UnknownSessionError",
    "bearer_scheme",
    "current_principal",
    "install",
    "require",
    "require_role",
]

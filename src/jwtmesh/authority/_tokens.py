"""Access tokens (RFC 9068) and the names of the grants and token types."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jwtmesh.authority._keyring import KeyRing
from jwtmesh.guard.policy import Policy
from jwtmesh.jose import encode

__all__ = [
    "ADMIN_SCOPE",
    "GRANT_CLIENT_CREDENTIALS",
    "GRANT_LOGIN",
    "GRANT_REFRESH",
    "GRANT_TOKEN_EXCHANGE",
    "TOKEN_TYPE_ACCESS",
    "AccessTokenIssuer",
    "TokenGrant",
]

GRANT_LOGIN = "login"  # jwtmesh's own: the client may send users to POST /login
GRANT_REFRESH = "refresh_token"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
ADMIN_SCOPE = "jwtmesh:admin"  # lets a client revoke and introspect any client's tokens


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What one access token says: who, for which audience, with which rights."""

    subject: str
    audience: Sequence[str]
    client_id: str
    scope: str
    roles: Iterable[str]
    sid: str | None = None
    act: dict[str, Any] | None = None
    not_after: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class AccessTokenIssuer:
    """Builds and signs access tokens with the active key of a :class:`KeyRing`."""

    def __init__(
        self,
        issuer: str,
        keyring: KeyRing,
        ttl: int,
        policy: Policy | None = None,
        embed_permissions: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self._keyring = keyring
        self._ttl = ttl
        self._policy = policy
        self._embed = embed_permissions and policy is not None
        self._clock = clock

    def issue(self, grant: TokenGrant) -> tuple[str, int]:
        """A signed ``at+jwt`` and its lifetime in seconds."""
        now = int(self._clock())
        exp = now + self._ttl
        if grant.not_after is not None:
            exp = min(exp, int(grant.not_after))  # never outlive the token it came from
        claims = self._claims(grant, now, exp)

        return encode(claims, self._keyring.signing_key, typ="at+jwt"), max(exp - now, 0)

    def _claims(self, grant: TokenGrant, now: int, exp: int) -> dict[str, Any]:
        roles = sorted(set(grant.roles))
        aud = list(grant.audience)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.subject,
            "aud": aud[0] if len(aud) == 1 else aud,
            "exp": exp,
            "iat": now,
            "nbf": now,
            "jti": secrets.token_urlsafe(16),
            "client_id": grant.client_id,
            "scope": grant.scope,
            "roles": roles,
        }
        if self._embed and self._policy is not None:
            claims["permissions"] = sorted(self._policy.permissions_for(roles))
        if grant.sid is not None:
            claims["sid"] = grant.sid
        if grant.act is not None:
            claims["act"] = grant.act
        claims.update(grant.extra)

        return claims

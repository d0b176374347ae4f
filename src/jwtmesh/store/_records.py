"""Plain records the stores read and write (no SQL, no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AlreadyExistsError",
    "ClientRecord",
    "KeyState",
    "RefreshTokenRecord",
    "RevocationEvent",
    "SigningKeyRecord",
    "StoreError",
    "UserRecord",
]


class StoreError(Exception):
    """Base of the errors raised by a store."""


class AlreadyExistsError(StoreError):
    """A record with the same unique name is already stored."""


class KeyState(enum.StrEnum):
    """Life cycle of a signing key: next -> active -> retiring -> retired."""

    NEXT = "next"
    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user who can log in; ``password_hash`` is an argon2id PHC string."""

    id: int
    username: str
    password_hash: str
    roles: tuple[str, ...]
    disabled: bool
    created_at: float


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """An OAuth client; a public client has no ``secret_digest``."""

    client_id: str
    secret_digest: bytes | None
    grant_types: tuple[str, ...]
    audiences: tuple[str, ...]
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    created_at: float
    disabled: bool = False

    @property
    def is_public(self) -> bool:
        """True when the client has no secret (it cannot authenticate)."""
        return self.secret_digest is None


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    """One refresh token, known only by the SHA-256 hex digest of its value."""

    token_hash: str
    family_id: str
    user_id: int
    client_id: str
    audience: tuple[str, ...]
    scope: str
    issued_at: float
    expires_at: float
    used_at: float | None = None
    replaced_by: str | None = None
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    """A signing key: its private half sealed with the KEK, its public JWK in clear."""

    kid: str
    alg: str
    state: KeyState
    sealed_private_key: bytes
    public_jwk: dict[str, Any] = field(hash=False)
    created_at: float
    activated_at: float | None = None
    retire_after: float | None = None


@dataclass(frozen=True, slots=True)
class RevocationEvent:
    """An entry of the revocation feed; ``id`` is the cursor.

    Exactly one of ``jti`` (one access token, kind ``revoke``) and ``sid``
    (every access token of a refresh-token family, kind ``revoke_session``)
    is set; ``exp`` is when the revocation stops mattering.
    """

    id: int
    kind: str
    jti: str | None
    exp: float
    created_at: float
    sid: str | None = None

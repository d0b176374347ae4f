"""Passwords (argon2id), client secrets (keyed HMAC) and refresh tokens (SHA-256)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "ClientSecretHasher",
    "Passwords",
    "hash_refresh_token",
    "new_client_secret",
    "new_refresh_token",
]

_CLIENT_SECRET_INFO = b"jwtmesh/client-secret-digest/v1"


class Passwords:
    """argon2id hashing whose failures all cost the same.

    An unknown user is checked against a dummy hash made with the same
    parameters, so timing does not tell unknown users from wrong passwords.
    """

    def __init__(self, time_cost: int = 3, memory_kib: int = 64 * 1024) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=1, type=Type.ID
        )
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """A PHC string for ``password``."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; with no hash, burn the same time and say False."""
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


class ClientSecretHasher:
    """HMAC-SHA256 of client secrets under a key derived from the KEK (HKDF).

    Secrets are 256-bit random values, so a keyed hash is enough and costs
    microseconds; a stolen database alone does not allow offline guessing.
    """

    def __init__(self, kek: bytes) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CLIENT_SECRET_INFO)
        self._key = hkdf.derive(kek)

    def digest(self, secret: str) -> bytes:
        """The stored form of ``secret``."""
        return hmac.new(self._key, secret.encode("utf-8"), hashlib.sha256).digest()

    def matches(self, secret: str, digest: bytes | None) -> bool:
        """Constant-time comparison of ``secret`` with a stored digest."""
        mine = self.digest(secret)
        return digest is not None and hmac.compare_digest(mine, digest)


def new_client_secret() -> str:
    """A fresh client secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token (256 bits) and the hash under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    """SHA-256 hex digest of a refresh token, the only form the store sees."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

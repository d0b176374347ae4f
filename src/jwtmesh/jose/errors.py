"""Errors raised by :mod:`jwtmesh.jose`.

Every rejection of a token is an :class:`InvalidTokenError` with a stable
``code`` (the string services put in ``error_description`` and metrics), and,
where one claim is at fault, the claim's name in ``claim``.  Messages never
contain the token, a key or a claim's value.

::

    JoseError
    ├── InvalidTokenError                 code
    │   ├── TokenTooLargeError            too_large
    │   ├── MalformedTokenError           malformed
    │   ├── UnsupportedHeaderError        unsupported_header
    │   ├── UnsupportedAlgorithmError     unsupported_alg
    │   ├── UnknownKeyError               unknown_kid
    │   ├── InvalidSignatureError         bad_signature
    │   ├── InvalidTypeError              wrong_typ
    │   ├── ExpiredTokenError             expired
    │   ├── ImmatureTokenError            not_yet_valid
    │   ├── InvalidIssuerError            wrong_issuer
    │   ├── InvalidAudienceError          wrong_audience
    │   ├── MissingClaimError             missing_claim
    │   ├── InvalidClaimError             invalid_claim
    │   └── RevokedTokenError             revoked
    └── JWKError
        ├── KeyFormatError
        ├── InsecureKeyError
        └── KeyDecryptionError
"""

from __future__ import annotations

__all__ = [
    "ExpiredTokenError",
    "ImmatureTokenError",
    "InsecureKeyError",
    "InvalidAudienceError",
    "InvalidClaimError",
    "InvalidIssuerError",
    "InvalidSignatureError",
    "InvalidTokenError",
    "InvalidTypeError",
    "JWKError",
    "JoseError",
    "KeyDecryptionError",
    "KeyFormatError",
    "MalformedTokenError",
    "MissingClaimError",
    "RevokedTokenError",
    "TokenTooLargeError",
    "UnknownKeyError",
    "UnsupportedAlgorithmError",
    "UnsupportedHeaderError",
]


class JoseError(Exception):
    """Base of every error raised by jwtmesh.jose."""


class InvalidTokenError(JoseError):
    """A token was rejected; ``code`` says why, in a stable word."""

    code = "invalid_token"

    def __init__(self, message: str, *, claim: str | None = None) -> None:
        super().__init__(message)
        self.claim = claim

    @property
    def description(self) -> str:
        """``code: message``, safe to send to the client."""
        return f"{self.code}: {self}"


class TokenTooLargeError(InvalidTokenError):
    code = "too_large"


class MalformedTokenError(InvalidTokenError):
    code = "malformed"


class UnsupportedHeaderError(InvalidTokenError):
    code = "unsupported_header"


class UnsupportedAlgorithmError(InvalidTokenError):
    code = "unsupported_alg"


class UnknownKeyError(InvalidTokenError):
    """No key with the token's ``kid``; ``kid`` is kept for a JWKS refetch."""

    code = "unknown_kid"

    def __init__(self, message: str, *, kid: str | None = None) -> None:
        super().__init__(message)
        self.kid = kid


class InvalidSignatureError(InvalidTokenError):
    code = "bad_signature"


class InvalidTypeError(InvalidTokenError):
    code = "wrong_typ"


class ExpiredTokenError(InvalidTokenError):
    code = "expired"


class ImmatureTokenError(InvalidTokenError):
    code = "not_yet_valid"


class InvalidIssuerError(InvalidTokenError):
    code = "wrong_issuer"


class InvalidAudienceError(InvalidTokenError):
    code = "wrong_audience"


class MissingClaimError(InvalidTokenError):
    code = "missing_claim"


class InvalidClaimError(InvalidTokenError):
    code = "invalid_claim"


class RevokedTokenError(InvalidTokenError):
    code = "revoked"


class JWKError(JoseError):
    """A key could not be loaded, used or trusted."""


class KeyFormatError(JWKError):
    """The key material or JWK is malformed or of an unsupported kind."""


class InsecureKeyError(JWKError):
    """The key is too weak, or is public key material offered as an HMAC secret."""


class KeyDecryptionError(JWKError):
    """A sealed private key could not be opened (wrong key-encryption key or damage)."""

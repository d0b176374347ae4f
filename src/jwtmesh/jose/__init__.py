"""The token format: keys, JWKS, sign, decode. Pure and synchronous; no I/O.

>>> key = Key.generate("ES256")
>>> token = encode({"iss": "https://auth", "sub": "ada", "aud": "orders",
...                 "exp": 2_000_000_000, "iat": 1_700_000_000, "jti": "1"}, key)
>>> decode(token, key.public(), issuer="https://auth", audience="orders",
...        now=1_800_000_000)["sub"]
'ada'
"""

from .errors import (
    ExpiredTokenError,
    ImmatureTokenError,
    InsecureKeyError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    InvalidTypeError,
    JoseError,
    JWKError,
    KeyDecryptionError,
    KeyFormatError,
    MalformedTokenError,
    MissingClaimError,
    RevokedTokenError,
    TokenTooLargeError,
    UnknownKeyError,
    UnsupportedAlgorithmError,
    UnsupportedHeaderError,
)
from .jwks import KeySet
from .jwt import DEFAULT_REQUIRED, MAX_TOKEN_BYTES, Validator, decode, encode, is_asymmetric
from .keys import ASYMMETRIC_ALGORITHMS, SUPPORTED_ALGORITHMS, Key, thumbprint
from .sealing import KEK_BYTES, seal_private_key, unseal_private_key

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_REQUIRED",
    "KEK_BYTES",
    "MAX_TOKEN_BYTES",
    "SUPPORTED_ALGORITHMS",
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
    "Key",
    "KeyDecryptionError",
    "KeyFormatError",
    "KeySet",
    "MalformedTokenError",
    "MissingClaimError",
    "RevokedTokenError",
    "TokenTooLargeError",
    "UnknownKeyError",
    "UnsupportedAlgorithmError",
    "UnsupportedHeaderError",
    "Validator",
    "decode",
    "encode",
    "is_asymmetric",
    "seal_private_key",
    "thumbprint",
    "unseal_private_key",
]

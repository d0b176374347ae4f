"""Encode and decode JWTs (RFC 7519) signed as compact JWS (RFC 7515).

*verify* checks the signature, *validate* checks the claims, *decode* does
parse + verify + validate.  A :class:`Validator` binds the expected issuer,
audience, type, leeway and key set once, so the per-request path does only
what each token requires.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from ._b64 import b64url_decode, b64url_encode
from ._json import dump_object, load_object
from .errors import (
    ExpiredTokenError,
    ImmatureTokenError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTypeError,
    MalformedTokenError,
    MissingClaimError,
    TokenTooLargeError,
    UnknownKeyError,
    UnsupportedAlgorithmError,
    UnsupportedHeaderError,
)
from .jwks import KeySet
from .keys import ASYMMETRIC_ALGORITHMS, SUPPORTED_ALGORITHMS, Key

__all__ = ["DEFAULT_REQUIRED", "MAX_TOKEN_BYTES", "Validator", "decode", "encode"]

MAX_TOKEN_BYTES = 8192
MAX_KID_LENGTH = 128
MAX_NUMERIC_DATE = 2**53
DEFAULT_REQUIRED = ("iss", "sub", "aud", "exp", "iat", "jti")
_STRING_CLAIMS = ("iss", "sub", "jti", "client_id", "scope", "sid")
# Headers that would let the token pick its own key or change how the
# signature is computed: never honoured (RFC 8725 sections 3.10, 2.1; RFC 7797).
_FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit", "b64", "zip", "enc"})
_HEADER_CACHE_SIZE = 64
# Marks a claim that is not in the token, as distinct from one whose value is null.
_ABSENT: Any = object()


def encode(
    claims: dict[str, Any], key: Key, typ: str = "at+jwt", headers: dict[str, Any] | None = None
) -> str:
    """Sign ``claims`` with ``key``; the header carries ``alg``, ``typ`` and ``kid``.

    ``headers`` may add members but not relabel the algorithm: the key decides it.
    """
    if headers and headers.get("alg", key.alg) != key.alg:
        raise ValueError("the key decides 'alg'; headers may not override it")
    header = {"alg": key.alg, "typ": typ, "kid": key.kid, **(headers or {})}
    signing_input = b64url_encode(dump_object(header)) + b"." + b64url_encode(dump_object(claims))
    return (signing_input + b"." + b64url_encode(key.sign(signing_input))).decode("ascii")


def _same_type(actual: Any, expected: str) -> bool:
    """``typ`` is compared case-insensitively, with or without ``application/``."""
    if not isinstance(actual, str):
        return False
    lowered: str = actual.lower()
    return lowered in (expected, "application/" + expected)


class Validator:
    """Decode tokens for one audience from one issuer.

    ``keys`` may be swapped at any time (a JWKS refresh); ``algorithms``
    further narrows what the keys allow (RFC 8725 section 3.1).
    """

    def __init__(
        self,
        keys: KeySet,
        issuer: str,
        audience: str | None,
        *,
        typ: str | None = "at+jwt",
        leeway: int = 30,
        required: Iterable[str] = DEFAULT_REQUIRED,
        max_size: int = MAX_TOKEN_BYTES,
        algorithms: Iterable[str] | None = None,
    ) -> None:
        if not issuer:
            raise ValueError("an issuer is required")
        self._headers: dict[bytes, tuple[str, str | None]] = {}
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.typ = typ
        self.leeway = leeway
        self.required = tuple(required)
        self.max_size = max_size
        self.algorithms = algorithms

    # The header cache holds headers that passed the checks below, which
    # depend on ``typ`` and ``algorithms``: changing either empties it.
    @property
    def typ(self) -> str | None:
        """The required ``typ`` header (lower case), or None to accept any."""
        return self._typ

    @typ.setter
    def typ(self, value: str | None) -> None:
        self._typ = value.lower() if value else None
        self._headers.clear()

    @property
    def algorithms(self) -> frozenset[str] | None:
        """The allow-list narrowing what the keys permit, or None for the keys' own."""
        return self._algorithms

    @algorithms.setter
    def algorithms(self, value: Iterable[str] | None) -> None:
        allowed = frozenset(value) if value is not None else None
        if allowed is not None and "none" in {a.lower() for a in allowed}:
            raise ValueError("'none' is never an allowed algorithm")
        self._algorithms = allowed
        self._headers.clear()

    # ------------------------------------------------------------ decode
    def decode(self, token: str | bytes, now: float | None = None) -> dict[str, Any]:
        """Parse, verify and validate ``token``; return its claims."""
        raw = self._as_bytes(token)
        if raw.count(b".") != 2:
            raise MalformedTokenError("a JWS compact token has exactly three segments")
        header64, payload64, signature64 = raw.split(b".")
        key = self._key_for(header64)
        signature = b64url_decode(signature64)
        if not key.verify(raw[: len(header64) + 1 + len(payload64)], signature):
            raise InvalidSignatureError("signature does not verify")
        claims = load_object(b64url_decode(payload64), "payload")
        self.validate(claims, now)
        return claims

    def verify(self, token: str | bytes) -> dict[str, Any]:
        """Parse and verify the signature only; the claims are NOT validated."""
        raw = self._as_bytes(token)
        if raw.count(b".") != 2:
            raise MalformedTokenError("a JWS compact token has exactly three segments")
        header64, payload64, signature64 = raw.split(b".")
        key = self._key_for(header64)
        if not key.verify(raw[: len(header64) + 1 + len(payload64)], b64url_decode(signature64)):
            raise InvalidSignatureError("signature does not verify")
        return load_object(b64url_decode(payload64), "payload")

    # ---------------------------------------------------------- validate
    def validate(self, claims: dict[str, Any], now: float | None = None) -> None:
        """Check registered claims (RFC 7519 section 4.1) against this validator.

        A registered claim that is present must have a value of its type:
        ``null`` is not "absent" (an ``"exp": null`` would otherwise never expire).
        """
        for name in self.required:
            if name not in claims:
                raise MissingClaimError(f"claim {name!r} is required", claim=name)
        get = claims.get
        for name in _STRING_CLAIMS:
            value = get(name, _ABSENT)
            if value is not _ABSENT and (value.__class__ is not str or len(value) > 1024):
                raise InvalidClaimError(f"claim {name!r} must be a string", claim=name)
        if get("iss") != self.issuer:
            raise InvalidIssuerError("issuer is not the expected one", claim="iss")
        if self.audience is not None:
            self._validate_audience(get("aud", _ABSENT))
        self._validate_times(
            get("exp", _ABSENT),
            get("nbf", _ABSENT),
            get("iat", _ABSENT),
            time.time() if now is None else now,
        )

    def _validate_audience(self, aud: Any) -> None:
        if aud.__class__ is str:
            if aud != self.audience:
                raise InvalidAudienceError("token is not for this audience", claim="aud")
            return
        if aud is _ABSENT:
            raise MissingClaimError("claim 'aud' is required", claim="aud")
        if aud.__class__ is not list or not aud or not all(a.__class__ is str for a in aud):
            raise InvalidClaimError(
                "claim 'aud' must be a string or a non-empty list of strings", claim="aud"
            )
        if self.audience not in aud:
            raise InvalidAudienceError("token is not for this audience", claim="aud")

    def _validate_times(self, exp: Any, nbf: Any, iat: Any, now: float) -> None:
        # NumericDate as a whole number: null, floats, bools and huge values are refused.
        for name, value in (("exp", exp), ("nbf", nbf), ("iat", iat)):
            if value is not _ABSENT and (
                value.__class__ is not int or not 0 <= value < MAX_NUMERIC_DATE
            ):
                raise InvalidClaimError(
                    f"claim {name!r} must be a whole number of seconds", claim=name
                )
        leeway = self.leeway
        if exp is not _ABSENT and now >= exp + leeway:
            raise ExpiredTokenError("token has expired", claim="exp")
        if nbf is not _ABSENT and now < nbf - leeway:
            raise ImmatureTokenError("token is not valid yet", claim="nbf")
        if iat is not _ABSENT and iat > now + leeway:
            raise ImmatureTokenError("token was issued in the future", claim="iat")

    # ------------------------------------------------------------ header
    def _as_bytes(self, token: str | bytes) -> bytes:
        if len(token) > self.max_size:
            raise TokenTooLargeError(f"token is larger than {self.max_size} bytes")
        if isinstance(token, bytes):
            return token
        if not token.isascii():
            raise MalformedTokenError("token is not ASCII")
        return token.encode("ascii")

    def _key_for(self, header64: bytes) -> Key:
        """The key named by the header, after every header check passes.

        Checked headers are cached by their exact bytes.  A hit still looks
        the key up in the current key set and compares its algorithm, so a
        JWKS refresh takes effect at once; ``typ`` and ``algorithms`` empty it.
        """
        cached = self._headers.get(header64)
        if cached is not None:
            key = self.keys.get(cached[1])
            if key is not None and key.alg == cached[0]:
                return key
        alg, kid = self._check_header(load_object(b64url_decode(header64), "header"))
        key = self._select_key(alg, kid)
        if len(self._headers) >= _HEADER_CACHE_SIZE:
            self._headers.clear()
        self._headers[header64] = (alg, kid)
        return key

    def _check_header(self, header: dict[str, Any]) -> tuple[str, str | None]:
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise MalformedTokenError("header 'alg' is missing or not a string")
        forbidden = _FORBIDDEN_HEADERS.intersection(header)
        if forbidden:
            raise UnsupportedHeaderError(
                f"header parameter {sorted(forbidden)[0]!r} is not accepted"
            )
        # Before any key lookup: an algorithm we never accept (``none`` in any
        # spelling) must not surface as unknown_kid, which makes guards refetch.
        if alg not in SUPPORTED_ALGORITHMS or (
            self._algorithms is not None and alg not in self._algorithms
        ):
            raise UnsupportedAlgorithmError("algorithm is not allowed")
        if self._typ is not None and not _same_type(header.get("typ"), self._typ):
            raise InvalidTypeError(f"token type must be {self._typ!r}", claim="typ")
        kid = header.get("kid")
        if kid is not None and (
            not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH or not kid.isprintable()
        ):
            raise MalformedTokenError("header 'kid' must be a short printable string", claim="kid")
        return alg, kid

    def _select_key(self, alg: str, kid: str | None) -> Key:
        key = self.keys.get(kid)
        if key is None:
            raise UnknownKeyError("no key for this kid" if kid else "token names no kid", kid=kid)
        # The key decides the algorithm; a mismatch is an attack or a mistake.
        if alg != key.alg:
            raise UnsupportedAlgorithmError("algorithm does not match the key")
        return key


def decode(
    token: str | bytes,
    keys: KeySet | Key,
    *,
    issuer: str,
    audience: str | None,
    typ: str | None = "at+jwt",
    leeway: int = 30,
    required: Iterable[str] = DEFAULT_REQUIRED,
    max_size: int = MAX_TOKEN_BYTES,
    algorithms: Iterable[str] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """One-shot :meth:`Validator.decode`; build a :class:`Validator` for repeated use."""
    keyset = KeySet([keys]) if isinstance(keys, Key) else keys
    validator = Validator(
        keyset,
        issuer,
        audience,
        typ=typ,
        leeway=leeway,
        required=required,
        max_size=max_size,
        algorithms=algorithms,
    )
    return validator.decode(token, now)


def is_asymmetric(alg: str) -> bool:
    """True for the public-key algorithms a multi-service deployment may use."""
    return alg in ASYMMETRIC_ALGORITHMS

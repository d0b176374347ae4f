"""Forging helpers for the attack tests: tokens built byte by byte."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

import orjson
import pytest

from jwtmesh.jose import InvalidTokenError, Key, KeySet, Validator

NOW = 1_800_000_000
ISSUER = "https://auth.example"
AUDIENCE = "orders"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    """Decode base64url without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def as_json(value: dict[str, Any] | bytes) -> bytes:
    """Objects are serialised compactly; bytes are taken as they are."""
    return value if isinstance(value, bytes) else orjson.dumps(value)


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid access-token claims at ``NOW``."""
    return {
        "iss": ISSUER,
        "sub": "ada",
        "aud": AUDIENCE,
        "exp": NOW + 300,
        "iat": NOW,
        "nbf": NOW,
        "jti": "jti-1",
        **overrides,
    }


def header_for(key: Key, **overrides: Any) -> dict[str, Any]:
    """The header the authority would write for ``key``."""
    return {"alg": key.alg, "typ": "at+jwt", "kid": key.kid, **overrides}


def signing_input(header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes) -> str:
    """``BASE64URL(header) . BASE64URL(payload)``."""
    return b64(as_json(header)) + "." + b64(as_json(payload))


def signed(key: Key, header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes) -> str:
    """A token whose header and payload are exactly the given bytes, signed by ``key``."""
    head = signing_input(header, payload)
    return head + "." + b64(key.sign(head.encode("ascii")))


def hmac_signed(secret: bytes, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """An HS256 token made with ``secret``, as an attacker would."""
    head = signing_input(header, payload)
    mac = hmac.new(secret, head.encode("ascii"), hashlib.sha256).digest()
    return head + "." + b64(mac)


def with_signature(token: str, signature: bytes) -> str:
    """``token`` with its signature replaced."""
    return token.rsplit(".", 1)[0] + "." + b64(signature)


def validator(*keys: Key, **options: Any) -> Validator:
    """A validator trusting the public halves of ``keys``."""
    trusted = [key if key.alg.startswith("HS") else key.public() for key in keys]
    return Validator(KeySet(trusted), ISSUER, AUDIENCE, **options)


def rejected(
    check: Validator, token: str | bytes, error: type[InvalidTokenError], code: str
) -> InvalidTokenError:
    """Assert that ``check`` refuses ``token`` with exactly ``error`` and ``code``."""
    with pytest.raises(InvalidTokenError) as caught:
        check.decode(token, now=NOW)
    assert type(caught.value) is error, f"{type(caught.value).__name__}: {caught.value}"
    assert caught.value.code == code
    return caught.value


def fresh_secret() -> bytes:
    """A random HMAC secret."""
    return secrets.token_bytes(32)

"""Shared helpers for the jose tests: keys per algorithm, valid claims, a fixed clock."""

from __future__ import annotations

import secrets
from typing import Any

from jwtmesh.jose import Key, KeySet, Validator

ALGORITHMS = ("ES256", "EdDSA", "RS256", "PS256", "HS256")
NOW = 1_800_000_000
ISSUER = "https://auth.example"
AUDIENCE = "orders"


def make_key(alg: str) -> Key:
    """A fresh signing key for ``alg`` (HMAC keys from a random secret)."""
    return Key.from_secret(secrets.token_bytes(32)) if alg == "HS256" else Key.generate(alg)


def verifying_key(key: Key) -> Key:
    """What a verifier holds: the public half, or the shared secret for HMAC."""
    return key if key.alg == "HS256" else key.public()


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid access-token claims at ``NOW``; ``None`` overrides drop a claim."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "ada",
        "aud": AUDIENCE,
        "exp": NOW + 300,
        "iat": NOW,
        "nbf": NOW,
        "jti": "jti-1",
        "scope": "orders:read",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def validator_for(key: Key, **options: Any) -> Validator:
    """A validator trusting only ``key``."""
    return Validator(KeySet([verifying_key(key)]), ISSUER, AUDIENCE, **options)

"""One issuer key per algorithm for the attack tests."""

from __future__ import annotations

import pytest

from jwtmesh.jose import Key


@pytest.fixture(scope="session")
def issuer_keys() -> dict[str, Key]:
    """The authority's signing keys, by algorithm."""
    return {alg: Key.generate(alg) for alg in ("ES256", "EdDSA", "RS256", "PS256")}


@pytest.fixture(scope="session")
def es256(issuer_keys: dict[str, Key]) -> Key:
    """The authority's default ES256 key."""
    return issuer_keys["ES256"]

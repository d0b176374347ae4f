"""Fixtures for the jose unit tests: one key per algorithm."""

from __future__ import annotations

import pytest

from jwtmesh.jose import Key

from ._support import ALGORITHMS, make_key


@pytest.fixture(scope="session")
def keys_by_alg() -> dict[str, Key]:
    """One key per algorithm for the whole session (RSA generation is slow)."""
    return {alg: make_key(alg) for alg in ALGORITHMS}


@pytest.fixture(params=ALGORITHMS)
def key(request: pytest.FixtureRequest, keys_by_alg: dict[str, Key]) -> Key:
    """Each supported key type in turn."""
    alg: str = request.param
    return keys_by_alg[alg]

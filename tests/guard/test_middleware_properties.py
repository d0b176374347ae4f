"""Property: whatever arrives in the Authorization header, the middleware answers 4xx or
lets through only a token that really verifies; never a 5xx, never an exception."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtmesh.guard import Guard, GuardMiddleware, JWTVerifier
from jwtmesh.jose import Key, KeySet, Validator, encode

ISSUER, AUDIENCE = "https://issuer.test", "orders"
KEY = Key.generate("ES256")
NOW = int(time.time())
VALID = encode(
    {"iss": ISSUER, "sub": "ada", "aud": AUDIENCE, "exp": NOW + 3600, "iat": NOW, "jti": "j1"}, KEY
)


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    yield running
    running.close()


def _middleware() -> GuardMiddleware:
    validator = Validator(KeySet([KEY.public()]), ISSUER, AUDIENCE)
    guard = Guard(JWTVerifier(validator, cache_size=64), public_paths=())
    return GuardMiddleware(_ok, guard)


MIDDLEWARE = _middleware()


def _status(loop: asyncio.AbstractEventLoop, headers: list[tuple[bytes, bytes]]) -> int:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/orders", "headers": headers}
    loop.run_until_complete(MIDDLEWARE(scope, receive, send))
    status: int = sent[0]["status"]
    return status


header_bytes = st.binary(max_size=600).map(lambda b: bytes(c for c in b if c not in (10, 13)))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=header_bytes)
def test_any_header_value_is_answered_4xx(loop: asyncio.AbstractEventLoop, value: bytes) -> None:
    for header in (value, b"Bearer " + value):
        assert _status(loop, [(b"authorization", header)]) in (400, 401)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(0, len(VALID) - 1), char=st.sampled_from("AQgw-_.=+/ x"))
def test_a_mutated_token_passes_only_when_nothing_signed_changed(
    loop: asyncio.AbstractEventLoop, position: int, char: str
) -> None:
    mutated = VALID[:position] + char + VALID[position + 1 :]
    status = _status(loop, [(b"authorization", b"Bearer " + mutated.encode())])
    if mutated == VALID:
        assert status == 200
    else:
        assert status in (400, 401)

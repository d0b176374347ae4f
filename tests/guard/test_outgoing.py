"""ServiceTokenSource and ServiceClient against a real token endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from jwtmesh.guard import ServiceClient, ServiceTokenSource, TokenEndpointError

from .conftest import CLIENT_ID, CLIENT_SECRET, FakeAuthority, bound_socket

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def source(authority: FakeAuthority, clock: Clock) -> AsyncIterator[ServiceTokenSource]:
    tokens = ServiceTokenSource(
        authority.url + "/oauth/token", CLIENT_ID, CLIENT_SECRET, clock=clock
    )
    yield tokens
    await tokens.close()


async def test_token_is_cached_per_audience(
    source: ServiceTokenSource, authority: FakeAuthority
) -> None:
    first = await source.token("inventory")
    second = await source.token("inventory")
    other = await source.token("payments")
    assert first == second != other
    assert [r["audience"] for r in authority.token_requests] == ["inventory", "payments"]
    assert authority.token_requests[0]["grant_type"] == "client_credentials"


async def test_token_is_renewed_before_expiry(
    source: ServiceTokenSource, authority: FakeAuthority, clock: Clock
) -> None:
    authority.token_lifetime = 100  # renewed when min(20 s, 30 s) is left: at 80 s
    await source.token("inventory")
    clock.now += 79
    await source.token("inventory")
    assert source.fetch_count == 1
    clock.now += 2
    await source.token("inventory")
    assert source.fetch_count == 2


async def test_one_fetch_at_a_time_per_audience(
    source: ServiceTokenSource, authority: FakeAuthority
) -> None:
    tokens = await asyncio.gather(*(source.token("inventory") for _ in range(10)))
    assert len(set(tokens)) == 1
    assert len(authority.token_requests) == 1


async def test_still_valid_token_survives_an_outage(
    source: ServiceTokenSource, authority: FakeAuthority, clock: Clock
) -> None:
    authority.token_lifetime = 100
    token = await source.token("inventory")
    await authority.stop()
    clock.now += 90  # renewal due, endpoint down, token still valid
    assert await source.token("inventory") == token
    clock.now += 20  # now expired
    with pytest.raises(TokenEndpointError):
        await source.token("inventory")


async def test_bad_credentials_raise(authority: FakeAuthority) -> None:
    tokens = ServiceTokenSource(authority.url + "/oauth/token", CLIENT_ID, "wrong")
    with pytest.raises(TokenEndpointError) as caught:
        await tokens.token("inventory")
    await tokens.close()
    assert caught.value.status == 401
    assert caught.value.error == "invalid_client"
    assert "wrong" not in str(caught.value)


async def test_exchange_is_cached(source: ServiceTokenSource, authority: FakeAuthority) -> None:
    user_token = authority.sign()
    first = await source.exchange(user_token, "inventory")
    second = await source.exchange(user_token, "inventory")
    assert first == second
    assert len(authority.token_requests) == 1
    sent = authority.token_requests[0]
    assert sent["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert sent["subject_token"] == user_token
    assert sent["audience"] == "inventory"


async def test_client_retries_once_after_401(
    source: ServiceTokenSource, authority: FakeAuthority
) -> None:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers["Authorization"])
        return web.json_response({"ok": len(seen) > 1}, status=401 if len(seen) == 1 else 200)

    app = web.Application()
    app.router.add_get("/stock", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = bound_socket()
    await web.SockSite(runner, sock).start()
    client = ServiceClient(
        source, "inventory", base_url=f"http://127.0.0.1:{sock.getsockname()[1]}"
    )
    response = await client.get("/stock")
    await client.close()
    await runner.cleanup()
    assert response.status == 200
    assert response.json() == {"ok": True}
    assert len(seen) == 2
    assert seen[0] != seen[1]  # the retry carried a renewed token
    assert seen[1].startswith("Bearer ")
    assert len(authority.token_requests) == 2

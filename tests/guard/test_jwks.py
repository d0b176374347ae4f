"""JWKSCache against a real JWKS server: refetch, single flight, rate limit, outage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from jwtmesh.guard import JWKSCache, JWTVerifier
from jwtmesh.jose import Key, KeySet, UnknownKeyError, Validator

from .conftest import AUDIENCE, ISSUER, FakeAuthority, bound_socket

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def cache(authority: FakeAuthority) -> AsyncIterator[JWKSCache]:
    jwks = JWKSCache(authority.jwks_url, min_refetch_interval=10.0)
    yield jwks
    await jwks.close()


def verifier(jwks: JWKSCache) -> JWTVerifier:
    return JWTVerifier(Validator(KeySet(), ISSUER, AUDIENCE), jwks)


async def test_first_use_fetches_once(cache: JWKSCache, authority: FakeAuthority) -> None:
    principal = await verifier(cache).authenticate(authority.sign())
    await verifier(cache).authenticate(authority.sign())
    assert principal.subject == "ada"
    assert authority.jwks_fetches == 1


async def test_unknown_kid_triggers_one_refetch(
    cache: JWKSCache, authority: FakeAuthority, other_key: Key
) -> None:
    guard = verifier(cache)
    await guard.authenticate(authority.sign())
    cache._last_attempt = -100.0  # the refetch interval has passed
    authority.published = [authority.key, other_key]  # the authority rotated in a new key
    principal = await guard.authenticate(authority.sign(key=other_key))
    assert principal.subject == "ada"
    assert authority.jwks_fetches == 2


async def test_concurrent_unknown_kids_share_one_fetch(
    cache: JWKSCache, authority: FakeAuthority, other_key: Key
) -> None:
    authority.published = [authority.key, other_key]
    authority.jwks_delay = 0.2
    guard = verifier(cache)
    token = authority.sign(key=other_key)
    results = await asyncio.gather(*(guard.authenticate(token) for _ in range(20)))
    assert {p.subject for p in results} == {"ada"}
    assert authority.jwks_fetches == 1


async def test_refetch_is_rate_limited(
    cache: JWKSCache, authority: FakeAuthority, other_key: Key
) -> None:
    guard = verifier(cache)
    await guard.authenticate(authority.sign())
    for _ in range(5):
        with pytest.raises(UnknownKeyError):
            await guard.authenticate(authority.sign(key=other_key))
    assert authority.jwks_fetches == 1  # within min_refetch_interval: no refetch at all


async def test_served_from_cache_while_authority_is_down(
    cache: JWKSCache, authority: FakeAuthority
) -> None:
    guard = verifier(cache)
    await guard.authenticate(authority.sign())
    await authority.stop()
    cache.expires_at = 0.0  # TTL ran out
    cache._last_attempt = -100.0
    principal = await guard.authenticate(authority.sign())
    await asyncio.sleep(0.05)  # let the background refresh fail
    again = await guard.authenticate(authority.sign())
    assert principal.subject == again.subject == "ada"
    assert cache.key_count == 1
    assert cache.fetch_count == 2


async def test_max_age_sets_the_ttl_within_bounds(authority: FakeAuthority) -> None:
    clock = Clock()
    authority.max_age = 5
    jwks = JWKSCache(authority.jwks_url, min_ttl=30, max_ttl=600, clock=clock)
    await jwks.get()
    assert jwks.expires_at == clock.now + 30  # max-age 5 raised to min_ttl
    authority.max_age = 100_000
    await jwks.refresh()
    assert jwks.expires_at == clock.now + 600  # lowered to max_ttl
    await jwks.close()


async def test_expired_keys_refresh_in_background(authority: FakeAuthority) -> None:
    clock = Clock()
    jwks = JWKSCache(authority.jwks_url, min_ttl=30, clock=clock)
    await jwks.get()
    clock.now += 301
    await jwks.get()
    await asyncio.sleep(0.05)
    assert authority.jwks_fetches == 2
    await jwks.close()


async def serve_body(body: bytes) -> tuple[web.AppRunner, str]:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/jwks", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = bound_socket()
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}/jwks"


@pytest.mark.parametrize("kind", ["too_big", "too_many_keys", "not_json", "only_hmac"])
async def test_bad_jwks_keeps_no_keys(kind: str, signing_key: Key) -> None:
    jwk = signing_key.public_jwk()
    bodies = {
        "too_big": b'{"keys": []}' + b" " * 70_000,
        "too_many_keys": b'{"keys": [' + b",".join([b"{}"] * 40) + b"]}",
        "not_json": b"<html>",
        "only_hmac": b'{"keys": [{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "h"}]}',
    }
    runner, url = await serve_body(bodies[kind])
    jwks = JWKSCache(url)
    keys = await jwks.get()
    assert len(keys) == 0
    assert jwks.fetched_at is None
    assert jwk["kid"] not in keys
    await jwks.close()
    await runner.cleanup()


async def test_disallowed_algorithms_are_dropped(authority: FakeAuthority, other_key: Key) -> None:
    authority.published = [authority.key, other_key]
    jwks = JWKSCache(authority.jwks_url, algorithms=("ES256",))
    keys = await jwks.get()
    assert keys.kids == {authority.key.kid}
    await jwks.close()

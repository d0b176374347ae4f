"""The three modes produce the same Principal: JWT, introspection (RFC 7662), Redis session."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from jwtmesh.guard import (
    Guard,
    GuardSettings,
    GuardUnavailableError,
    InactiveTokenError,
    IntrospectionVerifier,
    JWTVerifier,
    Policy,
    Principal,
    SessionVerifier,
    UnknownSessionError,
)
from jwtmesh.jose import (
    ExpiredTokenError,
    Key,
    KeySet,
    UnsupportedAlgorithmError,
    Validator,
    encode,
)

from .conftest import AUDIENCE, CLIENT_ID, CLIENT_SECRET, ISSUER, FakeAuthority, claims

pytestmark = pytest.mark.anyio
POLICY = Policy(roles={"clerk": ["orders:write"]})


def same_identity(p: Principal) -> tuple[object, ...]:
    return (p.subject, p.roles, p.scopes, p.permissions, p.client_id, p.token_id, p.expires_at)


@pytest.fixture
async def introspection(authority: FakeAuthority) -> AsyncIterator[IntrospectionVerifier]:
    verifier = IntrospectionVerifier(
        authority.url + "/oauth/introspect",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        audience=AUDIENCE,
        issuer=ISSUER,
        cache_seconds=5,
        resolve_roles=POLICY.permissions_for,
    )
    yield verifier
    await verifier.close()


async def test_introspection_matches_local_verification(
    introspection: IntrospectionVerifier, authority: FakeAuthority
) -> None:
    token = authority.sign()
    local = JWTVerifier(
        Validator(KeySet([authority.key]), ISSUER, AUDIENCE), resolve_roles=POLICY.permissions_for
    )
    remote = await introspection.authenticate(token)
    assert same_identity(remote) == same_identity(await local.authenticate(token))
    assert remote.permissions == {"orders:write"}


async def test_introspection_cache_and_inactive(
    introspection: IntrospectionVerifier, authority: FakeAuthority
) -> None:
    token = authority.sign()
    await introspection.authenticate(token)
    await introspection.authenticate(token)
    assert authority.introspections == 1
    with pytest.raises(InactiveTokenError) as caught:
        await introspection.authenticate("not-a-token")
    assert caught.value.code == "inactive"


async def test_introspection_wrong_audience(
    introspection: IntrospectionVerifier, authority: FakeAuthority
) -> None:
    with pytest.raises(InactiveTokenError):
        await introspection.authenticate(authority.sign(aud="payments"))


async def test_introspection_down_is_unavailable(
    introspection: IntrospectionVerifier, authority: FakeAuthority
) -> None:
    await authority.stop()
    with pytest.raises(GuardUnavailableError) as caught:
        await introspection.authenticate("anything")
    assert caught.value.code == "introspection_unavailable"


@pytest.fixture
async def redis_client() -> AsyncIterator[tuple[aioredis.Redis, str]]:
    client = aioredis.Redis(host="127.0.0.1", port=6379)
    prefix = f"test-guard-{uuid.uuid4().hex}:"
    yield client, prefix
    keys = [key async for key in client.scan_iter(prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.mark.redis
async def test_session_lookup(redis_client: tuple[aioredis.Redis, str]) -> None:
    client, prefix = redis_client
    verifier = SessionVerifier(client, key_prefix=prefix, resolve_roles=POLICY.permissions_for)
    session_id = uuid.uuid4().hex + uuid.uuid4().hex
    record = {
        "sub": "ada",
        "roles": ["clerk"],
        "scope": "openid",
        "client_id": "web",
        "exp": int(time.time()) + 60,
    }
    await client.set(SessionVerifier.key_for(session_id, prefix), orjson.dumps(record))
    principal = await verifier.authenticate(session_id)
    assert principal.subject == "ada"
    assert principal.permissions == {"orders:write"}
    assert principal.scopes == {"openid"}
    assert await client.get(prefix + session_id) is None  # only the digest is a key


@pytest.mark.redis
async def test_session_missing_or_expired(redis_client: tuple[aioredis.Redis, str]) -> None:
    client, prefix = redis_client
    verifier = SessionVerifier(client, key_prefix=prefix)
    with pytest.raises(UnknownSessionError):
        await verifier.authenticate("no-such-session")
    await client.set(SessionVerifier.key_for("old", prefix), orjson.dumps({"sub": "a", "exp": 1}))
    with pytest.raises(ExpiredTokenError):
        await verifier.authenticate("old")


async def test_hmac_only_with_the_configured_secret(authority: FakeAuthority) -> None:
    secret = b"a-long-shared-secret-for-hs256-tests!"
    settings = GuardSettings(
        issuer=ISSUER, audience=AUDIENCE, algorithms=("HS256",), secret_key=secret
    )
    guard = Guard.from_settings(settings)
    hs_token = encode(claims(), Key.from_secret(secret))
    assert (await guard.authenticate(hs_token)).subject == "ada"
    with pytest.raises(UnsupportedAlgorithmError):
        await guard.authenticate(authority.sign())  # ES256 is not allowed here
    await guard.close()

"""GuardMiddleware over real HTTP: exact statuses, challenges and error codes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwtmesh.guard import Guard, GuardMiddleware, GuardSettings, Principal
from jwtmesh.jose import Key
from jwtmesh.jose._b64 import b64url_encode

from .conftest import AUDIENCE, CLIENT_ID, CLIENT_SECRET, ISSUER, AsgiServer, FakeAuthority

pytestmark = pytest.mark.anyio

POLICY = """
[roles.clerk]
permissions = ["orders:write"]
includes = ["viewer"]

[roles.viewer]
permissions = ["orders:read"]

[[routes]]
method = "GET"
path = "/orders/*"
permission = "orders:read"

[[routes]]
method = "POST"
path = "/orders"
permission = "orders:write"

[[routes]]
method = "DELETE"
path = "/orders/{id}"
permission = "orders:delete"

[[routes]]
path = "/public"
public = true
"""


async def whoami(request: Request) -> JSONResponse:
    principal = request.state.principal if hasattr(request.state, "principal") else None
    if not isinstance(principal, Principal):
        return JSONResponse({"subject": None})
    return JSONResponse({"subject": principal.subject, "perms": sorted(principal.permissions)})


def service_app() -> Starlette:
    methods = ["GET", "POST", "DELETE"]
    return Starlette(
        routes=[
            Route("/orders", whoami, methods=methods),
            Route("/orders/{id}", whoami, methods=methods),
            Route("/public", whoami),
            Route("/other", whoami),
        ]
    )


def make_guard(authority: FakeAuthority, tmp_path: Path, **extra: Any) -> Guard:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    settings = GuardSettings(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url=authority.jwks_url,
        policy_path=str(policy),
        **extra,
    )
    return Guard.from_settings(settings)


@pytest.fixture
async def service(authority: FakeAuthority, tmp_path: Path) -> AsyncIterator[str]:
    guard = make_guard(authority, tmp_path)
    async with AsgiServer(GuardMiddleware(service_app(), guard, health_path="/healthz")) as srv:
        yield srv.url


@pytest.fixture
async def following(authority: FakeAuthority, tmp_path: Path) -> AsyncIterator[str]:
    guard = make_guard(
        authority,
        tmp_path,
        revocation_url=authority.url + "/oauth/revocations",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    async with AsgiServer(GuardMiddleware(service_app(), guard, health_path="/healthz")) as srv:
        yield srv.url


async def call(
    url: str,
    token: str | None = None,
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
) -> tuple[int, dict[str, Any], str]:
    sent = list(headers or [])
    if token is not None:
        sent.append(("Authorization", f"Bearer {token}"))
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=sent) as response,
    ):
        return response.status, await response.json(), response.headers.get("WWW-Authenticate", "")


def code_of(challenge: str) -> str:
    return challenge.split('error_description="', 1)[1].split(":", 1)[0]


async def test_valid_token_is_accepted(service: str, authority: FakeAuthority) -> None:
    status, body, _ = await call(service + "/orders/1", authority.sign())
    assert status == 200
    assert body == {"subject": "ada", "perms": ["orders:read", "orders:write"]}


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iss": "https://evil.test"}, "wrong_issuer"),
        ({"aud": "payments"}, "wrong_audience"),
        ({"typ": "JWT"}, "wrong_typ"),
        ({"jti": None}, "missing_claim"),
    ],
)
async def test_invalid_claims_are_401(
    service: str, authority: FakeAuthority, overrides: dict[str, Any], code: str
) -> None:
    claims = dict(overrides)
    typ = claims.pop("typ", "at+jwt")
    status, body, challenge = await call(service + "/orders/1", authority.sign(typ=typ, **claims))
    assert status == 401
    assert body["error"] == "invalid_token"
    assert body["error_description"].startswith(code + ": ")
    assert challenge.startswith('Bearer realm="jwtmesh", error="invalid_token"')
    assert code_of(challenge) == code


async def test_bad_signature_is_401(service: str, authority: FakeAuthority) -> None:
    head, _payload, sig = authority.sign().split(".")
    forged = b64url_encode(b'{"sub":"root"}').decode()
    status, body, challenge = await call(service + "/orders/1", f"{head}.{forged}.{sig}")
    assert status == 401
    assert code_of(challenge) == "bad_signature"
    assert body["error_description"] == "bad_signature: the token signature is invalid"


async def test_alg_none_is_401(service: str, authority: FakeAuthority) -> None:
    header = b64url_encode(
        b'{"alg":"none","typ":"at+jwt","kid":"%s"}' % authority.key.kid.encode()
    ).decode()
    payload = b64url_encode(b'{"iss":"https://auth.test","sub":"ada"}').decode()
    status, _, challenge = await call(service + "/orders/1", f"{header}.{payload}.")
    assert status == 401
    assert code_of(challenge) == "unsupported_alg"


async def test_unknown_kid_is_401(service: str, authority: FakeAuthority, other_key: Key) -> None:
    status, _, challenge = await call(service + "/orders/1", authority.sign(key=other_key))
    assert status == 401
    assert code_of(challenge) == "unknown_kid"


async def test_missing_token_gets_plain_challenge(service: str) -> None:
    status, body, challenge = await call(service + "/orders/1")
    assert status == 401
    assert challenge == 'Bearer realm="jwtmesh"'
    assert body["error_description"].startswith("missing_token")


async def test_other_scheme_gets_plain_challenge(service: str) -> None:
    status, _, challenge = await call(
        service + "/orders/1", headers=[("Authorization", "Basic YWRhOnB3")]
    )
    assert status == 401
    assert challenge == 'Bearer realm="jwtmesh"'


async def test_two_authorization_headers_are_400(service: str, authority: FakeAuthority) -> None:
    token = authority.sign()
    status, body, challenge = await call(
        service + "/orders/1", token, headers=[("Authorization", f"Bearer {token}")]
    )
    assert status == 400
    assert body["error"] == "invalid_request"
    assert 'error="invalid_request"' in challenge


async def test_oversized_token_is_rejected_before_decoding(service: str) -> None:
    status, _, challenge = await call(service + "/orders/1", "a" * 9000)
    assert status == 401
    assert code_of(challenge) == "too_large"


async def test_garbage_token_is_401_not_500(service: str) -> None:
    for token in ("abc", "a.b.c", "e30.e30.", "eyJhbGciOiJFUzI1NiJ9.%%%.x"):
        status, _, challenge = await call(service + "/orders/1", token)
        assert status in (400, 401), token
        assert "error=" in challenge


async def test_missing_permission_is_403(service: str, authority: FakeAuthority) -> None:
    status, body, challenge = await call(service + "/orders/7", authority.sign(), "DELETE")
    assert status == 403
    assert body["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="orders:delete"' in challenge


async def test_scope_grants_permission(service: str, authority: FakeAuthority) -> None:
    token = authority.sign(roles=[], scope="orders:delete")
    status, _, _ = await call(service + "/orders/7", token, "DELETE")
    assert status == 200


async def test_unknown_route_is_denied(service: str, authority: FakeAuthority) -> None:
    status, body, _ = await call(service + "/other", authority.sign())
    assert status == 403
    assert body["error_description"].startswith("route_denied")


async def test_public_route_needs_no_token(service: str) -> None:
    status, body, _ = await call(service + "/public")
    assert status == 200
    assert body == {"subject": None}


async def test_health_reports_jwks_and_revocation(following: str, authority: FakeAuthority) -> None:
    await call(following + "/orders/1", authority.sign())
    status, body, _ = await call(following + "/healthz")
    assert status == 200
    assert body["status"] == "ok"
    assert body["jwks"]["keys"] == 1
    assert body["jwks"]["age_seconds"] >= 0
    assert body["revocation"]["stale"] is False


async def test_revoked_token_is_401(following: str, authority: FakeAuthority) -> None:
    service = following
    jti = "to-be-revoked"
    token = authority.sign(jti=jti)
    assert (await call(service + "/orders/1", token))[0] == 200
    authority.revoke(jti, int(time.time()) + 300)
    for _ in range(100):
        status, _, challenge = await call(service + "/orders/1", token)
        if status == 401:
            break
        await asyncio.sleep(0.05)
    assert status == 401
    assert code_of(challenge) == "revoked"


async def test_stale_feed_with_refuse_stance_is_503(
    authority: FakeAuthority, tmp_path: Path
) -> None:
    authority.feed_broken = True
    guard = make_guard(
        authority,
        tmp_path,
        revocation_url=authority.url + "/oauth/revocations",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        revocation_stance="refuse",
        revocation_max_staleness=0.2,
    )
    async with AsgiServer(GuardMiddleware(service_app(), guard, health_path="/healthz")) as srv:
        await asyncio.sleep(0.4)
        status, body, _ = await call(srv.url + "/orders/1", authority.sign())
        health_status, health, _ = await call(srv.url + "/healthz")
    assert status == 503
    assert body["error_description"].startswith("revocation_stale")
    assert health_status == 503
    assert health["revocation"]["stale"] is True

"""Interoperability with independent JOSE implementations (PyJWT, joserfc).

Our tokens must verify with other libraries against our live JWKS, and tokens
other libraries sign must pass our guard: otherwise "standard" is only a word.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt as pyjwt
import pytest
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import ECKey, OKPKey
from joserfc.jwk import KeySet as JoserfcKeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from authority.helpers import Authority, ServerThread, make_settings, seed
from guard.conftest import AsgiServer
from jwtmesh.authority import create_app
from jwtmesh.guard import Guard, GuardMiddleware, GuardSettings

ISSUER = "https://issuer.interop.test"
AUDIENCE = "orders"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authority]:
    settings = make_settings(tmp_path_factory.mktemp("interop"))
    client_secrets = seed(settings)
    with ServerThread(create_app(settings)) as server:
        yield Authority(f"http://127.0.0.1:{server.port}", settings, client_secrets)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _service_token(authority: Authority) -> str:
    form = {"grant_type": "client_credentials", "audience": "catalog"}
    reply = authority.token(form, basic=authority.creds("orders-svc"))
    assert reply.status == 200, reply.body
    token: str = reply.json()["access_token"]
    return token


def test_pyjwt_jwks_client_verifies_an_authority_token(authority: Authority) -> None:
    token = _service_token(authority)
    client = pyjwt.PyJWKClient(authority.base_url + "/.well-known/jwks.json")
    signing_key = client.get_signing_key_from_jwt(token)
    claims = pyjwt.decode(
        token,
        signing_key.key,
        algorithms=["ES256"],
        audience="catalog",
        issuer=authority.settings.issuer,
    )
    assert claims["sub"] == "orders-svc"
    assert pyjwt.get_unverified_header(token)["typ"] == "at+jwt"


def test_joserfc_verifies_an_authority_user_token(authority: Authority) -> None:
    token = authority.login("alice")["access_token"]
    jwks = authority.request("GET", "/.well-known/jwks.json").json()
    decoded = joserfc_jwt.decode(token, JoserfcKeySet.import_key_set(jwks), algorithms=["ES256"])
    assert decoded.claims["sub"] == "alice"
    assert decoded.header["kid"] in {k["kid"] for k in jwks["keys"]}


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "grace",
        "aud": AUDIENCE,
        "exp": now + 120,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "scope": "orders:read",
    }
    claims.update(overrides)
    return claims


def _jwks_app(public_jwks: dict[str, Any]) -> Starlette:
    async def jwks(_request: Request) -> Response:
        return JSONResponse(public_jwks, headers={"Cache-Control": "max-age=60"})

    return Starlette(routes=[Route("/jwks.json", jwks)])


def _guarded_app() -> Starlette:
    async def whoami(request: Request) -> Response:
        principal = request.scope["state"]["principal"]
        return JSONResponse({"sub": principal.subject, "scopes": sorted(principal.scopes)})

    return Starlette(routes=[Route("/whoami", whoami)])


@pytest.mark.anyio
# joserfc warns that "EdDSA" is deprecated by RFC 9864 in favour of "Ed25519"; the old
# name is still what most issuers publish, so the guard accepts both (each pinned to its key).
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize("kind", ["ES256", "EdDSA", "Ed25519"])
async def test_guard_accepts_a_token_signed_by_joserfc(kind: str, tmp_path: Path) -> None:
    params: Any = {"alg": kind, "use": "sig"}
    key = (
        ECKey.generate_key("P-256", parameters=params, auto_kid=True)
        if kind == "ES256"
        else OKPKey.generate_key("Ed25519", parameters=params, auto_kid=True)
    )
    jwks = {"keys": [key.as_dict(private=False)]}
    header = {"alg": kind, "kid": key.kid, "typ": "at+jwt"}
    good = joserfc_jwt.encode(header, _claims(), key, algorithms=[kind])
    foreign_aud = joserfc_jwt.encode(header, _claims(aud="billing"), key, algorithms=[kind])
    async with AsgiServer(_jwks_app(jwks)) as issuer:
        settings = GuardSettings(
            issuer=ISSUER, audience=AUDIENCE, jwks_url=issuer.url + "/jwks.json"
        )
        guarded = GuardMiddleware(_guarded_app(), Guard.from_settings(settings))
        async with AsgiServer(guarded) as service, aiohttp.ClientSession() as http:
            async with http.get(
                service.url + "/whoami", headers={"Authorization": f"Bearer {good}"}
            ) as response:
                assert response.status == 200
                assert await response.json() == {"sub": "grace", "scopes": ["orders:read"]}
            async with http.get(
                service.url + "/whoami", headers={"Authorization": f"Bearer {foreign_aud}"}
            ) as response:
                assert response.status == 401
                assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
                assert "wrong_audience" in response.headers["WWW-Authenticate"]

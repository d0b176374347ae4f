"""FastAPI dependencies with and without the middleware; the OpenAPI security scheme."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import aiohttp
import pytest
from fastapi import Depends, FastAPI

from jwtmesh.guard import (
    CurrentPrincipal,
    Guard,
    GuardMiddleware,
    GuardSettings,
    Policy,
    Principal,
    install,
    require,
    require_role,
)

from .conftest import AUDIENCE, ISSUER, AsgiServer, FakeAuthority

pytestmark = pytest.mark.anyio


def build_app(guard: Guard, with_middleware: bool) -> Any:
    app = FastAPI()
    install(app, guard)

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, Any]:
        return {"subject": principal.subject}

    @app.post("/orders")
    async def create(
        principal: Annotated[Principal, Depends(require("orders:write"))],
    ) -> dict[str, str]:
        return {"by": principal.subject}

    @app.delete("/orders", dependencies=[Depends(require_role("admin"))])
    async def purge() -> dict[str, bool]:
        return {"purged": True}

    if with_middleware:
        return GuardMiddleware(app, guard)
    return app


@pytest.fixture(params=[True, False], ids=["middleware", "dependencies-only"])
async def api(request: pytest.FixtureRequest, authority: FakeAuthority) -> AsyncIterator[str]:
    policy = Policy(roles={"clerk": ["orders:write"]}, unknown_route="authenticated")
    settings = GuardSettings(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url=authority.jwks_url,
        public_paths=("/openapi.json", "/docs"),
    )
    guard = Guard.from_settings(settings, policy=policy)
    async with AsgiServer(build_app(guard, request.param)) as server:
        yield server.url
    await guard.close()


async def call(url: str, method: str = "GET", token: str | None = None) -> tuple[int, Any, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers) as response,
    ):
        return response.status, await response.json(), response.headers.get("WWW-Authenticate", "")


async def test_current_principal(api: str, authority: FakeAuthority) -> None:
    status, body, _ = await call(api + "/me", token=authority.sign())
    assert status == 200
    assert body == {"subject": "ada"}


async def test_no_token_is_401(api: str) -> None:
    status, body, challenge = await call(api + "/me")
    assert status == 401
    assert challenge == 'Bearer realm="jwtmesh"'
    assert body["error_description"].startswith("missing_token")


async def test_expired_token_is_401(api: str, authority: FakeAuthority) -> None:
    status, body, challenge = await call(api + "/me", token=authority.sign(exp=1_000_000))
    assert status == 401
    assert body["error"] == "invalid_token"
    assert 'error_description="expired: ' in challenge


async def test_require_permission(api: str, authority: FakeAuthority) -> None:
    allowed = await call(api + "/orders", "POST", authority.sign())
    denied = await call(api + "/orders", "POST", authority.sign(roles=["viewer"]))
    assert allowed[:2] == (200, {"by": "ada"})
    assert denied[0] == 403
    assert denied[1]["error"] == "insufficient_scope"
    assert 'scope="orders:write"' in denied[2]


async def test_require_role(api: str, authority: FakeAuthority) -> None:
    denied = await call(api + "/orders", "DELETE", authority.sign())
    allowed = await call(api + "/orders", "DELETE", authority.sign(roles=["admin"]))
    assert denied[0] == 403
    assert denied[1]["error_description"].startswith("insufficient_role")
    assert allowed[:2] == (200, {"purged": True})


async def test_openapi_declares_bearer_scheme(api: str) -> None:
    status, spec, _ = await call(api + "/openapi.json")
    assert status == 200
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": scheme["description"],
    }
    for path, method in (("/me", "get"), ("/orders", "post"), ("/orders", "delete")):
        assert spec["paths"][path][method]["security"] == [{"bearerAuth": []}]

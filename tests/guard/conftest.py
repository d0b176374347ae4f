"""A small fake authority (aiohttp.web) and an ASGI runner (uvicorn), both on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from aiohttp import web
from starlette.types import ASGIApp

from jwtmesh.jose import Key, KeySet, encode

ISSUER = "https://auth.test"
AUDIENCE = "orders"
CLIENT_ID = "orders-svc"
CLIENT_SECRET = "s3cret-value"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def signing_key() -> Key:
    return Key.generate("ES256")


@pytest.fixture(scope="session")
def other_key() -> Key:
    return Key.generate("EdDSA")


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid RFC 9068 claims for AUDIENCE, with overrides (None removes a claim)."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "ada",
        "aud": AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": uuid.uuid4().hex,
        "client_id": "web",
        "scope": "openid",
        "roles": ["clerk"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def basic_ok(request: web.Request) -> bool:
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    return request.headers.get("Authorization") == f"Basic {expected}"


@dataclass
class FakeAuthority:
    """Serves JWKS, token, introspection and revocation feed; counts what it is asked."""

    key: Key
    published: list[Key] = field(default_factory=list)
    max_age: int = 300
    jwks_delay: float = 0.0
    jwks_fetches: int = 0
    token_requests: list[dict[str, str]] = field(default_factory=list)
    token_lifetime: int = 300
    introspections: int = 0
    revocations: list[dict[str, Any]] = field(default_factory=list)
    feed_requests: int = 0
    feed_broken: bool = False
    url: str = ""
    runner: web.AppRunner | None = None
    new_event: asyncio.Event = field(default_factory=asyncio.Event)

    def sign(self, key: Key | None = None, typ: str = "at+jwt", **overrides: Any) -> str:
        return encode(claims(**overrides), key or self.key, typ=typ)

    def revoke(self, jti: str, exp: int) -> None:
        self.revocations.append({"jti": jti, "exp": exp})
        self.new_event.set()

    # ------------------------------------------------------------ handlers
    async def jwks(self, _request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        if self.jwks_delay:
            await asyncio.sleep(self.jwks_delay)
        body = KeySet(self.published or [self.key]).to_jwks()
        return web.json_response(body, headers={"Cache-Control": f"public, max-age={self.max_age}"})

    async def token(self, request: web.Request) -> web.Response:
        if not basic_ok(request):
            return web.json_response({"error": "invalid_client"}, status=401)
        form = dict(await request.post())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        audience = str(form.get("audience", ""))
        extra: dict[str, Any] = {"sub": CLIENT_ID, "aud": audience, "roles": None}
        if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange":
            extra = {"sub": "ada", "aud": audience, "act": {"sub": CLIENT_ID}}
        extra["exp"] = int(time.time()) + self.token_lifetime
        token = self.sign(**extra)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        )

    async def introspect(self, request: web.Request) -> web.Response:
        if not basic_ok(request):
            return web.json_response({"error": "invalid_client"}, status=401)
        self.introspections += 1
        token = str((await request.post()).get("token", ""))
        try:
            from jwtmesh.jose import decode

            found = decode(token, KeySet([self.key]), issuer=ISSUER, audience=None)
        except Exception:
            return web.json_response({"active": False})
        if found["jti"] in {r["jti"] for r in self.revocations}:
            return web.json_response({"active": False})
        return web.json_response({"active": True, **found})

    async def feed(self, request: web.Request) -> web.Response:
        self.feed_requests += 1
        if self.feed_broken:
            return web.json_response({"error": "down"}, status=500)
        if not basic_ok(request):
            return web.json_response({"error": "invalid_client"}, status=401)
        after = int(request.query.get("after", "0"))
        wait = min(float(request.query.get("wait", "0")), 2.0)
        if after >= len(self.revocations) and wait > 0:
            self.new_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.new_event.wait(), wait)
        return web.json_response(
            {"cursor": len(self.revocations), "events": self.revocations[after:]}
        )

    # ----------------------------------------------------------- lifecycle
    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/jwks.json", self.jwks)
        app.router.add_post("/oauth/token", self.token)
        app.router.add_post("/oauth/introspect", self.introspect)
        app.router.add_get("/oauth/revocations", self.feed)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self.runner.setup()
        sock = bound_socket(port)
        site = web.SockSite(self.runner, sock)
        await site.start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def jwks_url(self) -> str:
        return self.url + "/.well-known/jwks.json"


def bound_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@pytest.fixture
async def authority(signing_key: Key) -> AsyncIterator[FakeAuthority]:
    fake = FakeAuthority(signing_key)
    await fake.start()
    yield fake
    await fake.stop()


class AsgiServer:
    """Runs an ASGI app with uvicorn inside the test's event loop."""

    def __init__(self, app: ASGIApp) -> None:
        self.sock = bound_socket()
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsgiServer:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task
        self.sock.close()

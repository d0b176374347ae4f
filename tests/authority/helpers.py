"""Helpers: a real authority served by uvicorn on 127.0.0.1, and an HTTP client for it."""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from starlette.types import ASGIApp

from jwtmesh.authority import (
    GRANT_CLIENT_CREDENTIALS,
    GRANT_TOKEN_EXCHANGE,
    AuthoritySettings,
    add_client,
    add_public_client,
    add_user,
)
from jwtmesh.jose import KeySet, decode

PASSWORD = "correct horse battery staple"
POLICY = """
[roles.customer]
permissions = ["orders:read", "orders:write", "catalog:read"]

[roles.staff]
permissions = ["users:read"]
includes = ["customer"]
"""


@dataclass
class Reply:
    """What the server answered."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import orjson

        return orjson.loads(self.body)


@dataclass
class Authority:
    """A running authority and what the tests need to talk to it."""

    base_url: str
    settings: AuthoritySettings
    secrets: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: dict[str, str] | str | bytes | AsyncIterator[bytes] | None = None,
        headers: dict[str, str] | None = None,
        basic: tuple[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Reply:
        """One HTTP request over a fresh aiohttp session."""
        return asyncio.run(
            _request(self.base_url + path, method, json, data, headers, basic, timeout)
        )

    def login(self, username: str = "alice", **extra: str) -> dict[str, Any]:
        """POST /login and return the JSON answer (asserting success)."""
        reply = self.request(
            "POST", "/login", json={"username": username, "password": PASSWORD, **extra}
        )
        assert reply.status == 200, reply.body
        body: dict[str, Any] = reply.json()
        return body

    def token(self, form: dict[str, str], basic: tuple[str, str] | None = None) -> Reply:
        """POST /oauth/token with a form."""
        return self.request("POST", "/oauth/token", data=form, basic=basic)

    def creds(self, client_id: str) -> tuple[str, str]:
        """(client_id, secret) of a confidential test client."""
        return client_id, self.secrets[client_id]

    def keys(self) -> KeySet:
        """The served JWKS."""
        return KeySet.from_jwks(self.request("GET", "/.well-known/jwks.json").body)

    def decode(self, token: str, audience: str | None) -> dict[str, Any]:
        """Verify a token against the served JWKS, as a guard would."""
        return decode(token, self.keys(), issuer=self.settings.issuer, audience=audience)


async def _request(
    url: str,
    method: str,
    json: Any,
    data: Any,
    headers: dict[str, str] | None,
    basic: tuple[str, str] | None,
    timeout: float,
) -> Reply:
    all_headers = dict(headers or {})
    if basic is not None:
        raw = f"{basic[0]}:{basic[1]}".encode()
        all_headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.request(method, url, json=json, data=data, headers=all_headers) as response,
    ):
        body = await response.read()
        return Reply(response.status, dict(response.headers), body)


class ServerThread:
    """uvicorn serving any ASGI app from a thread, on a port the OS picked.

    ``options`` go to ``uvicorn.Config`` (e.g. ``log_level="debug", access_log=True``).
    """

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        settings = {"log_level": "warning", "loop": "uvloop", "http": "httptools", **options}
        self.server = uvicorn.Server(uvicorn.Config(app, **settings))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self.thread.is_alive(), "uvicorn thread died"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def make_settings(
    tmp: Path, database_url: str | None = None, **overrides: Any
) -> AuthoritySettings:
    """Fast settings for tests: cheap argon2, a fresh KEK, a policy that embeds permissions."""
    policy = tmp / "policy.toml"
    policy.write_text(POLICY)
    values: dict[str, Any] = {
        "issuer": "http://auth.test",
        "database_url": database_url or f"sqlite:///{tmp}/authority.db",
        "kek": secrets.token_bytes(32),
        "policy_file": policy,
        "embed_permissions": True,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "refresh_reuse_grace": 1.0,
        **overrides,
    }
    return AuthoritySettings(**values)


def seed(settings: AuthoritySettings) -> dict[str, str]:
    """Users alice (customer) and carol (staff); two public and three confidential clients."""
    add_user(settings, "alice", PASSWORD, ["customer"])
    add_user(settings, "carol", PASSWORD, ["staff"])
    exchange = [GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE]
    add_public_client(settings, "mobile-app", ["orders"], scopes=["profile"])
    return {
        "orders-svc": add_client(
            settings, "orders-svc", ["users", "catalog"], exchange, ["orders:read"], ["service"]
        ),
        "catalog-svc": add_client(settings, "catalog-svc", ["orders"], [GRANT_CLIENT_CREDENTIALS]),
        "admin-cli": add_client(
            settings, "admin-cli", ["users"], [GRANT_CLIENT_CREDENTIALS], ["jwtmesh:admin"]
        ),
    }

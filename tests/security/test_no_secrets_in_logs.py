"""No secret reaches a log line, with every logger at DEBUG.

A whole session runs while every log record of every logger (root at DEBUG,
uvicorn's error and access logs included) is captured: logins with the right
and a wrong password, a guarded service called with good, tampered and
revoked tokens, refresh and refresh-token reuse, client credentials, token
exchange, introspection, revocation, logout, a throttled login. Then no
password, access token (nor its signature), refresh token, client secret, KEK
or private key (PEM or JWK ``d``) may appear anywhere in what was logged.

The second test runs the demo's own scenario (separate processes) and scans
the orchestrator's records and every child's log file the same way.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp

from authority.helpers import ServerThread
from jwtmesh.authority import (
    GRANT_CLIENT_CREDENTIALS,
    GRANT_TOKEN_EXCHANGE,
    AuthoritySettings,
    add_client,
    add_user,
    build_authority,
    create_app,
)
from jwtmesh.guard import (
    CurrentPrincipal,
    Guard,
    GuardMiddleware,
    GuardSettings,
    ServiceTokenSource,
    install,
)

PASSWORD = "Tr0ub4dor&3-correct-horse"
WRONG_PASSWORDS = ("Tr0ub4dor&3-typo", "hunter2-guess-1", "hunter2-guess-2", "hunter2-guess-3")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
ISSUER = "http://auth.test"


class Capture(logging.Handler):
    """Keeps every record: the formatted line and everything the record carries."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.lines.append(f"{line}\n{record.__dict__!r}")


@pytest.fixture
def debug_logs() -> Iterator[Capture]:
    """Every logger at DEBUG into one capture (uvicorn's loggers propagate to the root)."""
    capture = Capture()
    root = logging.getLogger()
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "jwtmesh")
    saved = {name: logging.getLogger(name).level for name in names}
    saved_root = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).propagate = True
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(saved_root)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def debug_server(app: ASGIApp) -> ServerThread:
    """uvicorn in a thread with debug and access logs, its logging left to the root."""
    return ServerThread(
        app,
        log_config=None,
        log_level="debug",
        access_log=True,
        lifespan="on",
        timeout_graceful_shutdown=1,
        loop="auto",
        http="auto",
    )


@dataclass
class Secrets:
    """Everything that must never be logged."""

    values: set[str] = field(default_factory=set)

    def add(self, *values: str | None) -> None:
        for value in values:
            if value:
                self.values.add(value)

    def add_token(self, token: str) -> None:
        self.add(token)
        if token.count(".") == 2:
            self.add(token.rsplit(".", 1)[1])  # the signature alone

    def add_kek(self, kek: bytes) -> None:
        b64url = base64.urlsafe_b64encode(kek).decode()
        self.add(b64url, b64url.rstrip("="), base64.b64encode(kek).decode(), kek.hex())

    def add_private_key(self, settings: AuthoritySettings) -> None:
        authority = build_authority(settings)
        try:
            key = authority.keyring.signing_key
        finally:
            authority.store.close()
        self.add(str(key.private_jwk()["d"]))
        pem = key.private_pem().decode()
        self.add(*(line for line in pem.splitlines() if len(line) >= 16 and "-----" not in line))

    def found_in(self, lines: list[str]) -> list[str]:
        """Which lines leak what (secrets shown by length only)."""
        leaks = [
            f"{len(secret)}-char secret in: {line[:80]!r}"
            for line in lines
            for secret in self.values
            if secret in line
        ]
        leaks += [f"JWT in: {line[:80]!r}" for line in lines if JWT.search(line)]
        return leaks


# -- the in-process session -----------------------------------------------------


@dataclass
class World:
    """The running authority and service, and the secrets seeded into them."""

    auth: str
    service: str
    secrets: Secrets
    client_secret: str


def _settings(tmp: Path, kek: bytes) -> AuthoritySettings:
    return AuthoritySettings(
        issuer=ISSUER,
        database_url=f"sqlite:///{tmp}/authority.db",
        kek=kek,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        default_audiences=("orders", "users"),
        throttle_free_failures=2,
        log_level="debug",
    )


def _seed(settings: AuthoritySettings, found: Secrets) -> str:
    add_user(settings, "alice", PASSWORD, ["customer"])
    exchange = [GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE]
    client_secret = add_client(settings, "orders-svc", ["users", "orders"], exchange)
    found.add(PASSWORD, *WRONG_PASSWORDS, client_secret)
    found.add_kek(settings.require_kek())
    found.add_private_key(settings)
    return client_secret


def _service(auth_url: str, client_secret: str) -> FastAPI:
    settings = GuardSettings(
        issuer=ISSUER,
        audience="orders",
        jwks_url=f"{auth_url}/.well-known/jwks.json",
        client_id="orders-svc",
        client_secret=client_secret,
        revocation_url=f"{auth_url}/oauth/revocations",
        jwks_min_refetch_interval=0.0,
    )
    app = FastAPI()
    guard = Guard.from_settings(settings)
    install(app, guard)
    app.add_middleware(GuardMiddleware, guard=guard, health_path="/healthz")

    @app.get("/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
        return {"sub": principal.subject}

    return app


@pytest.fixture
def world(tmp_path: Path, debug_logs: Capture) -> Iterator[World]:
    """An authority and a guarded service, both at DEBUG, started after the capture."""
    found = Secrets()
    settings = _settings(tmp_path, secrets.token_bytes(32))
    client_secret = _seed(settings, found)
    auth = debug_server(create_app(settings))
    # The guard fetches keys from the served URL; ``iss`` is checked against ISSUER.
    with auth, debug_server(_service(auth.url, client_secret)) as service:
        yield World(auth.url, service.url, found, client_secret)


class Client:
    """A tiny HTTP client that records every token it is given."""

    def __init__(self, world: World, http: aiohttp.ClientSession) -> None:
        self.world = world
        self.http = http

    async def call(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.request(method, url, **kwargs) as response:
            raw = await response.read()
        body = orjson.loads(raw) if raw.strip().startswith(b"{") else raw
        if isinstance(body, dict):
            for name in ("access_token", "refresh_token"):
                if isinstance(body.get(name), str):
                    self.world.secrets.add_token(body[name])
        return response.status, body

    async def login(self, password: str) -> tuple[int, Any]:
        body = {"username": "alice", "password": password}
        return await self.call("POST", f"{self.world.auth}/login", json=body)

    async def form(self, path: str, form: dict[str, str], basic: bool = True) -> tuple[int, Any]:
        raw = f"orders-svc:{self.world.client_secret}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()} if basic else {}
        return await self.call("POST", f"{self.world.auth}{path}", data=form, headers=headers)

    async def whoami(self, token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        status, _ = await self.call("GET", f"{self.world.service}/whoami", headers=headers)
        return status


async def _session(world: World) -> list[int]:
    statuses: list[int] = []
    async with aiohttp.ClientSession() as http:
        client = Client(world, http)
        statuses += [(await client.login(WRONG_PASSWORDS[0]))[0]]
        status, tokens = await client.login(PASSWORD)
        statuses += [status, await client.whoami(tokens["access_token"])]
        statuses += [await client.whoami(tokens["access_token"][:-4] + "AAAA")]
        statuses += await _grants(client, tokens)
        statuses += await _revocation(client, tokens)
        for wrong in (*WRONG_PASSWORDS[1:], PASSWORD):  # the last one is throttled
            statuses += [(await client.login(wrong))[0]]
    return statuses


async def _grants(client: Client, tokens: dict[str, Any]) -> list[int]:
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    refresh["client_id"] = "shop-web"
    renewed, _ = await client.form("/oauth/token", refresh, basic=False)
    reused, _ = await client.form("/oauth/token", refresh, basic=False)  # reuse: family revoked
    source = ServiceTokenSource(
        f"{client.world.auth}/oauth/token", "orders-svc", client.world.client_secret
    )
    try:
        client.world.secrets.add_token(await source.token("users"))
        _fresh, again = await client.login(PASSWORD)
        exchanged = await source.exchange(again["access_token"], "users")
        client.world.secrets.add_token(exchanged)
    finally:
        await source.close()
    wrong_secret = {"grant_type": "client_credentials", "client_secret": "x" + PASSWORD}
    wrong_secret["client_id"] = "orders-svc"
    bad, _ = await client.form("/oauth/token", wrong_secret, basic=False)
    return [renewed, reused, bad]


async def _revocation(client: Client, tokens: dict[str, Any]) -> list[int]:
    _status, fresh = await client.login(PASSWORD)
    access = fresh["access_token"]
    looked = [
        (await client.form("/oauth/introspect", {"token": access}))[0],
        (await client.form("/oauth/introspect", {"token": fresh["refresh_token"]}))[0],
        (await client.form("/oauth/revoke", {"token": access, "client_id": "shop-web"}, False))[0],
    ]
    _status, last = await client.login(PASSWORD)
    headers = {"Authorization": f"Bearer {last['access_token']}"}
    body = {"refresh_token": last["refresh_token"]}
    logout, _ = await client.call("POST", f"{client.world.auth}/logout", headers=headers, json=body)
    return [*looked, logout, await _refused_once_synced(client, access)]


async def _refused_once_synced(client: Client, token: str) -> int:
    deadline = time.monotonic() + 10
    status = await client.whoami(token)
    while status == 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        status = await client.whoami(token)
    return status


def test_no_secret_in_any_log_line_at_debug(world: World, debug_logs: Capture) -> None:
    statuses = asyncio.run(_session(world))
    # wrong, right, whoami, tampered, refresh, reuse, bad secret, 2 x introspect, revoke,
    # logout, revoked token refused, three wrong passwords, then throttled.
    assert statuses[:12] == [401, 200, 200, 401, 200, 400, 401, 200, 200, 200, 204, 401]
    assert statuses[12:] == [401, 401, 401, 429]
    assert len(world.secrets.values) > 20
    lines = debug_logs.lines
    assert any("uvicorn.access" in line for line in lines)  # the access log was captured
    assert any("login refused" in line for line in lines)
    assert world.secrets.found_in(lines) == []


def test_the_capture_would_see_a_leak(debug_logs: Capture) -> None:
    """The scan is not vacuous: a token logged the way a careless library would is found."""
    found = Secrets()
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQtb25seQ"
    found.add_token(token)
    logging.getLogger("some.library").debug("request headers: %r", {"Authorization": token})
    assert len(found.found_in(debug_logs.lines)) == 3  # the token, its signature, the JWT shape


# -- the demo's own scenario, in separate processes ------------------------------


async def _demo_extras(login_url: str, token_url: str, password: str) -> list[str]:
    tokens: list[str] = []
    async with aiohttp.ClientSession() as http:
        for attempt in ("wrong-" + password, password):
            body = {"username": "alice", "password": attempt}
            async with http.post(login_url, json=body) as response:
                answer = await response.json()
        tokens += [answer["access_token"], answer["refresh_token"]]
        form = {"grant_type": "refresh_token", "refresh_token": answer["refresh_token"]}
        form["client_id"] = "shop-web"
        async with http.post(token_url, data=form) as response:
            renewed = await response.json()
        tokens += [renewed["access_token"], renewed["refresh_token"]]
    return tokens


_DEBUG_ENV = {"JWTMESH_LOG_LEVEL": "debug", "JWTMESH_DEMO_LOG_LEVEL": "debug"}


@pytest.mark.slow
def test_demo_scenario_logs_no_secret(tmp_path: Path, debug_logs: Capture) -> None:
    from jwtmesh.demo import DemoSystem, run_scenario

    found = Secrets()
    with DemoSystem(state_dir=tmp_path / "demo", extra_env=_DEBUG_ENV) as demo:
        rows = run_scenario(demo)
        alice = demo.account("alice").password
        tokens = asyncio.run(_demo_extras(demo.login_url, demo.token_url, alice))
        found.add(*(account.password for account in demo.accounts))
        found.add(*(service.client_secret for service in demo.services.values()))
        found.add_kek(demo.authority_settings.require_kek())
        found.add_private_key(demo.authority_settings)
        for token in tokens:
            found.add_token(token)
    assert rows and len(found.values) > 10
    files = sorted((tmp_path / "demo" / "logs").glob("*.log"))
    assert any(f.name == "authority.log" for f in files)
    lines = [line for f in files for line in f.read_text(errors="replace").splitlines()]
    # The children really logged at DEBUG, access log included (else this proves little).
    assert any(" DEBUG " in line for line in lines)
    assert any('"GET /' in line or '"POST /' in line for line in lines)
    assert found.found_in(lines + debug_logs.lines) == []

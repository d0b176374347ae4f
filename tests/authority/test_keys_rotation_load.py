"""Rotation under load, over real HTTP: an authority, a guarded FastAPI service, zero failures.

Workers log in and call the service with each fresh token without pause
while keys rotate by hand, both scheduled (``rotate``) and at once
(``rotate --now``).  Every request must succeed, and a token signed by a key
that stopped signing keeps verifying until it expires.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from jwtmesh.authority import AuthoritySettings, add_user, create_app, rotate_keys
from jwtmesh.guard import Guard, GuardMiddleware, GuardSettings
from jwtmesh.store import KeyState, SqlStore

from .helpers import PASSWORD, ServerThread, make_settings

pytestmark = pytest.mark.slow

RUN_SECONDS = 7.0
WORKERS = 4
# (seconds after the start, --now?): at once with a key no guard has seen, scheduled,
# twice at once, promoted at once because the standing-by key is ripe, scheduled again.
ROTATIONS = ((0.3, True), (1.0, False), (2.5, True), (3.0, True), (4.8, False), (5.2, False))


@dataclass
class Tally:
    """What the load saw."""

    ok: int = 0
    failures: list[str] = field(default_factory=list)
    kids: list[str] = field(default_factory=list)
    first_token_of: dict[str, str] = field(default_factory=dict)
    old_token_checks: int = 0
    rotations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Urls:
    """Where the two servers listen."""

    authority: str
    service: str


def _service_app(settings: AuthoritySettings, authority_url: str) -> GuardMiddleware:
    app = FastAPI()

    @app.get("/me")
    async def me(request: Request) -> dict[str, str]:
        return {"subject": request.state.principal.subject}

    guard = Guard.from_settings(
        GuardSettings(
            issuer=settings.issuer,
            audience="orders",
            jwks_url=authority_url + "/.well-known/jwks.json",
            jwks_min_ttl=1.0,
            jwks_min_refetch_interval=0.05,
            leeway=0,
        )
    )
    return GuardMiddleware(app, guard)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[AuthoritySettings, Urls]]:
    """An authority with fast key timing, and a service guarded by its JWKS."""
    settings = make_settings(
        tmp_path,
        access_ttl=4,
        jwks_max_age=1,
        key_publish_ahead=1.5,
        key_tick_interval=0.1,
        key_retire_leeway=1.0,
    )
    add_user(settings, "alice", PASSWORD, ["customer"])
    with ServerThread(create_app(settings)) as authority:
        authority_url = f"http://127.0.0.1:{authority.port}"
        with ServerThread(_service_app(settings, authority_url)) as service:
            yield settings, Urls(authority_url, f"http://127.0.0.1:{service.port}")


def _part(token: str, index: int) -> dict[str, Any]:
    text = token.split(".")[index]
    part: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    return part


def _kid(token: str) -> str:
    return str(_part(token, 0)["kid"])


async def _login(http: aiohttp.ClientSession, urls: Urls, tally: Tally) -> str | None:
    body = {"username": "alice", "password": PASSWORD}
    async with http.post(urls.authority + "/login", json=body) as reply:
        if reply.status != 200:
            tally.failures.append(f"login {reply.status} {await reply.text()}")
            return None
        token: str = (await reply.json())["access_token"]
        return token


async def _call(http: aiohttp.ClientSession, urls: Urls, token: str, tally: Tally) -> bool:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(urls.service + "/me", headers=headers) as reply:
        if reply.status == 200 and (await reply.json())["subject"] == "alice":
            tally.ok += 1
            return True
        detail = reply.headers.get("WWW-Authenticate", "")
        tally.failures.append(f"service {reply.status} kid={_kid(token)} {detail}")
        return False


async def _worker(http: aiohttp.ClientSession, urls: Urls, tally: Tally, end: float) -> None:
    while time.monotonic() < end:
        token = await _login(http, urls, tally)
        if token is None:
            continue
        kid = _kid(token)
        if kid not in tally.first_token_of:
            tally.first_token_of[kid] = token
            tally.kids.append(kid)
        await _call(http, urls, token, tally)


async def _old_token(
    http: aiohttp.ClientSession, urls: Urls, token: str, tally: Tally, exp: float
) -> None:
    """Use one token of the first key until just before it expires."""
    while time.time() < exp - 0.3:
        if await _call(http, urls, token, tally):
            tally.old_token_checks += 1
        await asyncio.sleep(0.1)


async def _rotator(settings: AuthoritySettings, start: float, tally: Tally) -> None:
    for at, now in ROTATIONS:
        await asyncio.sleep(max(0.0, start + at - time.monotonic()))
        tally.rotations.append(await asyncio.to_thread(rotate_keys, settings, now))


async def _drive(settings: AuthoritySettings, urls: Urls) -> Tally:
    tally = Tally()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        first = await _login(http, urls, tally)
        assert first is not None and await _call(http, urls, first, tally)
        tally.kids.append(_kid(first))
        tally.first_token_of[_kid(first)] = first
        start = time.monotonic()
        end = start + RUN_SECONDS
        exp = float(_part(first, 1)["exp"])
        await asyncio.gather(
            _rotator(settings, start, tally),
            _old_token(http, urls, first, tally, exp),
            *(_worker(http, urls, tally, end) for _ in range(WORKERS)),
        )
    return tally


def test_rotation_under_load_fails_no_request(
    servers: tuple[AuthoritySettings, Urls],
) -> None:
    settings, urls = servers
    tally = asyncio.run(_drive(settings, urls))
    assert tally.failures == []
    assert tally.ok > 100 and tally.old_token_checks >= 20
    assert [r["activated"] for r in tally.rotations] == [True, False, True, True, True, False]
    assert tally.rotations[0]["published_for"] == 0.0
    assert "unknown kid" in tally.rotations[0]["note"]
    assert len(tally.kids) >= 6  # the first key and at least five promoted ones signed
    assert len(set(tally.kids)) == len(tally.kids)


def test_old_key_is_removed_after_its_last_token_expired(
    servers: tuple[AuthoritySettings, Urls],
) -> None:
    settings, urls = servers
    tally = asyncio.run(_drive(settings, urls))
    assert tally.failures == []
    first_kid = tally.kids[0]
    deadline = time.monotonic() + 10
    while first_kid in _published(urls):
        assert time.monotonic() < deadline, "the first key was never retired"
        time.sleep(0.1)
    store = SqlStore.open(settings.database_url)
    row = store.get_signing_key(first_kid)
    store.close()
    assert row is not None and row.state is KeyState.RETIRED and row.sealed_private_key == b""
    assert row.retire_after is not None and row.activated_at is not None
    # Removed no earlier than access_ttl + leeway after it stopped signing.
    assert row.retire_after - settings.retire_grace >= row.activated_at


def _published(urls: Urls) -> set[str]:
    async def fetch() -> set[str]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(urls.authority + "/.well-known/jwks.json") as reply,
        ):
            return {k["kid"] for k in (await reply.json())["keys"]}

    return asyncio.run(fetch())

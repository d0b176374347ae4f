"""Server-side sessions: login starts one, the guard reads it, logout ends it."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import uvicorn
from fastapi import FastAPI

from jwtmesh.authority import AuthoritySettings, SettingsError, add_user, create_app
from jwtmesh.authority._sessions import SESSION_KEY_PREFIX, SessionStore
from jwtmesh.bench._redis import RedisServer, free_port
from jwtmesh.demo import DEFAULT_POLICY
from jwtmesh.guard import SESSION_KEY_PREFIX as GUARD_PREFIX
from jwtmesh.guard import SessionVerifier

PASSWORD = "correct horse battery staple"
REFRESH_TTL = 7200

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer.running() as server:
        yield server


def _settings(tmp: Path, sessions_url: str | None) -> AuthoritySettings:
    settings = AuthoritySettings(
        issuer="http://127.0.0.1:9",
        database_url=f"sqlite:///{tmp / 'authority.db'}",
        kek=secrets.token_bytes(32),
        policy_file=DEFAULT_POLICY,
        refresh_ttl=REFRESH_TTL,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        log_level="warning",
        sessions_redis_url=sessions_url,
    )
    add_user(settings, "alice", PASSWORD, ["user"])

    return settings


@dataclass
class Reply:
    status: int
    body: Any


class Client:
    """A tiny JSON client for an authority served on 127.0.0.1."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def post(self, path: str, body: Any = None, bearer: str | None = None) -> Reply:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        data = json.dumps(body).encode() if body is not None else b""
        request = urllib.request.Request(self.base_url + path, data, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return Reply(status, json.loads(raw) if raw else None)


@contextmanager
def serve(app: FastAPI) -> Iterator[Client]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield Client(f"http://127.0.0.1:{sock.getsockname()[1]}")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture()
def client(tmp_path: Path, redis_server: RedisServer) -> Iterator[Client]:
    with serve(create_app(_settings(tmp_path, redis_server.url))) as running:
        yield running


def _login(client: Client) -> dict[str, Any]:
    reply = client.post("/login", {"username": "alice", "password": PASSWORD})
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.body

    return body


def _stored(server: RedisServer, session_id: str) -> tuple[dict[str, Any] | None, int]:
    key = SessionVerifier.key_for(session_id)
    with redis.Redis.from_url(server.url) as conn:
        raw = conn.get(key)
        ttl = int(conn.ttl(key))
    return (orjson.loads(raw) if raw is not None else None), ttl


def test_login_starts_a_session_the_guard_reads(client: Client, redis_server: RedisServer) -> None:
    body = _login(client)
    session_id = body["session_id"]

    record, ttl = _stored(redis_server, session_id)

    assert len(base64.urlsafe_b64decode(session_id + "=")) == 32
    assert record is not None
    assert record["sub"] == "alice" and record["roles"] == ["user"]
    assert record["client_id"] == "shop-web" and record["scope"] == body["scope"]
    assert "orders:write" in record["permissions"] and "catalog:read" in record["permissions"]
    assert abs(record["exp"] - (time.time() + REFRESH_TTL)) < 60
    assert REFRESH_TTL - 60 < ttl <= REFRESH_TTL
    assert session_id not in str(record)  # only its digest names the key


def test_session_verifier_builds_the_principal(client: Client, redis_server: RedisServer) -> None:
    session_id = _login(client)["session_id"]

    async def check() -> None:
        verifier = SessionVerifier(redis_server.url)
        try:
            principal = await verifier.authenticate(session_id)
        finally:
            await verifier.close()
        assert principal.subject == "alice"
        assert principal.permits("orders:write")
        assert not principal.permits("catalog:write")

    asyncio.run(check())


def test_logout_with_the_session_id_ends_it(client: Client, redis_server: RedisServer) -> None:
    session_id = _login(client)["session_id"]

    first = client.post("/logout", bearer=session_id)
    second = client.post("/logout", bearer=session_id)

    assert first.status == 204
    assert _stored(redis_server, session_id) == (None, -2)
    assert second.status == 401
    assert second.body["error"] == "invalid_token"


def test_logout_with_the_access_token_still_works(client: Client) -> None:
    body = _login(client)

    reply = client.post("/logout", bearer=body["access_token"])

    assert reply.status == 204


def test_no_session_without_the_setting(tmp_path: Path) -> None:
    with serve(create_app(_settings(tmp_path, None))) as running:
        body = _login(running)

    assert "session_id" not in body
    assert {"access_token", "refresh_token"} <= set(body)


def test_store_down_answers_503(tmp_path: Path) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    with serve(create_app(_settings(tmp_path, down))) as running:
        reply = running.post("/login", {"username": "alice", "password": PASSWORD})

    assert reply.status == 503
    assert reply.body["error"] == "temporarily_unavailable"


def test_setting_comes_from_the_environment() -> None:
    url = "redis://127.0.0.1:6390/2"

    settings = AuthoritySettings.from_env({"JWTMESH_SESSIONS_REDIS_URL": url})

    assert settings.sessions_redis_url == url
    assert url not in repr(settings)


def test_setting_rejects_other_schemes() -> None:
    with pytest.raises(SettingsError) as caught:
        AuthoritySettings(sessions_redis_url="http://127.0.0.1:6379")

    assert caught.value.field == "JWTMESH_SESSIONS_REDIS_URL"


def test_prefix_matches_the_guard() -> None:
    assert SESSION_KEY_PREFIX == GUARD_PREFIX


def test_owns_tells_session_ids_from_jwts() -> None:
    assert SessionStore.owns(secrets.token_urlsafe(32))
    assert not SessionStore.owns("a.b.c")

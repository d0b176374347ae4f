"""Revocations reach a running service over real HTTP, through the feed and through Redis.

The authority runs as a subprocess (so it can be killed with SIGKILL and
started again on the same database); the service is a FastAPI app behind
:class:`GuardMiddleware`, served by uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import base64
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import redis
from fastapi import FastAPI
from starlette.requests import Request

from jwtmesh.authority import AuthoritySettings
from jwtmesh.guard import Guard, GuardMiddleware, GuardSettings, RevocationSource
from jwtmesh.store import SqlStore
from support.postgres import pg_database

from .helpers import Authority, Reply, ServerThread, make_settings, seed

pytestmark = pytest.mark.slow

TARGET = 1.0  # seconds from the revoke call to the first rejection
SERVE = (
    "from jwtmesh.authority import AuthoritySettings, serve; "
    "import sys; serve(AuthoritySettings.from_env(), '127.0.0.1', int(sys.argv[1]))"
)
SHARED_REDIS = "redis://127.0.0.1:6379/0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- processes ----------------------------------------------------------------


class AuthorityProcess:
    """``serve()`` in a child process; can be killed (SIGKILL) and started again."""

    def __init__(self, settings: AuthoritySettings, port: int, log: Path, **env: str) -> None:
        self.settings = settings
        self.port = port
        self.log = log
        self.extra = env
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> AuthorityProcess:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait(10)

    def start(self) -> None:
        """Start the child and wait until ``/healthz`` answers 200."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", SERVE, str(self.port)],
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait(self._healthy, 30, "the authority to start")

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def _healthy(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
        try:
            return _get(f"http://127.0.0.1:{self.port}", "/healthz", None)[0] == 200
        except OSError:
            return False

    def _env(self) -> dict[str, str]:
        s = self.settings
        assert s.kek is not None and s.policy_file is not None
        values = {
            "ISSUER": s.issuer,
            "DATABASE_URL": s.database_url,
            "KEK": base64.urlsafe_b64encode(s.kek).decode(),
            "POLICY_FILE": str(s.policy_file),
            "EMBED_PERMISSIONS": "true",
            "ARGON2_TIME_COST": str(s.argon2_time_cost),
            "ARGON2_MEMORY_KIB": str(s.argon2_memory_kib),
            "REFRESH_REUSE_GRACE": str(s.refresh_reuse_grace),
            "LOG_LEVEL": "warning",
            **self.extra,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("JWTMESH_")}
        return {**env, **{f"JWTMESH_{k}": v for k, v in values.items()}}


class GuardedService:
    """A FastAPI service behind GuardMiddleware (audience ``orders``), on its own port."""

    def __init__(self, issuer: str, secret: str, **revocation: Any) -> None:
        if "revocation_redis_url" not in revocation:
            revocation["revocation_url"] = f"{issuer}/oauth/revocations"
        settings = GuardSettings(
            issuer=issuer,
            audience="orders",
            jwks_url=f"{issuer}/.well-known/jwks.json",
            client_id="orders-svc",
            client_secret=secret,
            leeway=2,
            **revocation,
        )
        self.guard = Guard.from_settings(settings)
        app = FastAPI()

        @app.get("/whoami")
        async def whoami(request: Request) -> dict[str, str]:
            return {"sub": request.state.principal.subject}

        app.add_middleware(GuardMiddleware, guard=self.guard, health_path="/healthz")
        self.server = ServerThread(app)
        self.url = f"http://127.0.0.1:{self.server.port}"

    @property
    def follower(self) -> RevocationSource:
        """The guard's revocation follower."""
        assert self.guard.follower is not None
        return self.guard.follower

    def __enter__(self) -> GuardedService:
        self.server.__enter__()
        try:
            _wait(lambda: self.follower.last_sync is not None, 10, "the guard's first sync")
        except BaseException:
            self.server.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.__exit__(kind, exc, tb)

    def probe(self, token: str) -> tuple[int, str]:
        """Status and rejection code of ``GET /whoami`` with ``token``."""
        return _get(self.url, "/whoami", token)

    def refused_within(self, token: str, timeout: float) -> float:
        """Seconds until the service answers 401 ``revoked`` for ``token``; fails after timeout."""
        started = time.monotonic()
        while True:
            status, code = self.probe(token)
            elapsed = time.monotonic() - started
            if (status, code) == (401, "revoked"):
                return elapsed
            assert status == 200, (status, code)
            assert elapsed < timeout, f"still accepted after {elapsed:.2f}s"
            time.sleep(0.005)


def _get(base: str, path: str, token: str | None) -> tuple[int, str]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status < 400:
        return response.status, ""
    description = str(orjson.loads(body).get("error_description", ""))
    return response.status, description.split(":", 1)[0]


class RedisServer:
    """A private redis-server on a free port (stopped and started again by the test)."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.dir = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start and wait for PING; loads ``dump.rdb`` when a previous stop saved one."""
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        self.proc = subprocess.Popen(
            ["redis-server", *args, "no", "--dir", str(self.dir), "--dbfilename", "dump.rdb"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(self._pong, 10, "redis-server")

    def stop(self, save: bool) -> None:
        """SHUTDOWN (SAVE or NOSAVE) and wait for the process to end."""
        with redis.Redis.from_url(self.url) as client:
            client.shutdown(save=save, nosave=not save)
        assert self.proc is not None
        self.proc.wait(10)

    def kill(self) -> None:
        """Stop it if it still runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def _pong(self) -> bool:
        try:
            with redis.Redis.from_url(self.url, socket_connect_timeout=1) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False


# -- authority helpers --------------------------------------------------------


def _deployment(tmp: Path, database_url: str | None = None) -> tuple[Authority, int]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(tmp, database_url=database_url, issuer=base)
    return Authority(base, settings, seed(settings)), port


def _revoke(authority: Authority, token: str) -> Reply:
    reply = authority.request(
        "POST", "/oauth/revoke", data={"token": token, "client_id": "shop-web"}
    )
    assert reply.status == 200, reply.body
    return reply


def _refresh(authority: Authority, token: str) -> Reply:
    form = {"grant_type": "refresh_token", "client_id": "shop-web", "refresh_token": token}
    return authority.token(form)


def _active(authority: Authority, token: str) -> bool:
    reply = authority.request(
        "POST", "/oauth/introspect", data={"token": token}, basic=authority.creds("admin-cli")
    )
    active: bool = reply.json()["active"]
    return active


@pytest.fixture
def stream_name() -> Iterator[str]:
    """A Redis stream name of this test's own; the stream and its cursor go afterwards."""
    name = f"jwtmesh:test:{uuid.uuid4().hex}:revocations"
    yield name
    with redis.Redis.from_url(SHARED_REDIS) as client:
        client.delete(name, f"{name}:published")


@pytest.fixture(scope="module")
def own_pg() -> Iterator[str]:
    """A PostgreSQL database for this module alone."""
    with pg_database("jwtmesh_restart") as url:
        yield url


# -- tests --------------------------------------------------------------------


def test_feed_revocation_reaches_a_running_service_within_target(tmp_path: Path) -> None:
    authority, port = _deployment(tmp_path)
    with (
        AuthorityProcess(authority.settings, port, tmp_path / "authority.log"),
        GuardedService(authority.base_url, authority.secrets["orders-svc"]) as service,
    ):
        latencies = _timed_revocations(authority, service, rounds=5)
    assert max(latencies) <= TARGET, latencies


@pytest.mark.redis
def test_redis_revocation_reaches_a_running_service_within_target(
    tmp_path: Path, stream_name: str
) -> None:
    authority, port = _deployment(tmp_path)
    redis_env = {"REDIS_URL": SHARED_REDIS, "REVOCATION_STREAM": stream_name}
    redis_env["THROTTLE_REDIS_PREFIX"] = f"{stream_name}:throttle:"
    with (
        AuthorityProcess(authority.settings, port, tmp_path / "authority.log", **redis_env),
        GuardedService(
            authority.base_url,
            authority.secrets["orders-svc"],
            revocation_redis_url=SHARED_REDIS,
            revocation_stream=stream_name,
        ) as service,
    ):
        latencies = _timed_revocations(authority, service, rounds=5)
        with redis.Redis.from_url(SHARED_REDIS) as client:
            entries = client.xrange(stream_name)
            published = int(client.get(f"{stream_name}:published") or 0)
    assert max(latencies) <= TARGET, latencies
    assert len(entries) == 5 and all(b"jti" in fields for _id, fields in entries)
    assert published == 5


def _timed_revocations(authority: Authority, service: GuardedService, rounds: int) -> list[float]:
    """Revoke-call-to-first-rejection latency, ``rounds`` times."""
    latencies = []
    for _ in range(rounds):
        token = authority.login()["access_token"]
        assert service.probe(token) == (200, "")
        started = time.monotonic()
        _revoke(authority, token)
        service.refused_within(token, 5.0)
        latencies.append(time.monotonic() - started)
    return latencies


def test_reuse_detection_kills_the_family_at_the_service(tmp_path: Path) -> None:
    authority, port = _deployment(tmp_path)
    with (
        AuthorityProcess(authority.settings, port, tmp_path / "authority.log"),
        GuardedService(authority.base_url, authority.secrets["orders-svc"]) as service,
    ):
        first = authority.login()
        second = _refresh(authority, first["refresh_token"]).json()
        bystander = authority.login()["access_token"]
        for token in (first["access_token"], second["access_token"], bystander):
            assert service.probe(token) == (200, "")
        time.sleep(authority.settings.refresh_reuse_grace + 0.2)
        started = time.monotonic()
        reuse = _refresh(authority, first["refresh_token"])
        service.refused_within(second["access_token"], 5.0)
        elapsed = time.monotonic() - started
        assert service.probe(first["access_token"]) == (401, "revoked")
        assert service.probe(bystander) == (200, "")
        live = _refresh(authority, second["refresh_token"])
    assert reuse.status == 400 and reuse.json()["error"] == "invalid_grant"
    assert live.status == 400 and live.json()["error"] == "invalid_grant"
    assert elapsed <= TARGET


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_killed_authority_loses_nothing_and_guards_resume(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("own_pg") if backend == "postgresql" else None
    authority, port = _deployment(tmp_path, url)
    process = AuthorityProcess(authority.settings, port, tmp_path / "authority.log")
    with (
        process,
        GuardedService(authority.base_url, authority.secrets["orders-svc"]) as service,
    ):
        kept = authority.login()
        rotated = _refresh(authority, kept["refresh_token"]).json()
        victim = authority.login()["access_token"]
        _revoke(authority, victim)
        service.refused_within(victim, 5.0)
        late_a, late_b = authority.login()["access_token"], authority.login()["access_token"]
        claims = authority.decode(late_a, "orders")
        failures = service.follower.failures
        process.kill9()
        # While it is down another replica on the same database revokes late_a.
        store = SqlStore.open(authority.settings.database_url, migrate=False)
        store.revoke_jti(claims["jti"], claims["exp"], time.time())
        _wait(lambda: service.follower.failures > failures, 10, "the guard to lose the feed")
        assert service.probe(late_a) == (200, "")  # the guard cannot know yet
        process.start()
        _revoke(authority, late_b)
        service.refused_within(late_a, 30.0)
        service.refused_within(late_b, 30.0)
        assert service.probe(victim) == (401, "revoked")
        last_event = store.last_event_id()
        store.close()
        _wait(lambda: service.follower.cursor == last_event, 5, "the guard's cursor")
        # Refresh tokens survived: the rotated one works, the used one is still used.
        assert _refresh(authority, rotated["refresh_token"]).status == 200
        time.sleep(authority.settings.refresh_reuse_grace + 0.2)
        reuse = _refresh(authority, kept["refresh_token"])
        assert not _active(authority, victim) and not _active(authority, late_a)
    assert reuse.status == 400 and reuse.json()["error"] == "invalid_grant"


@pytest.mark.redis
def test_revocations_made_while_redis_is_down_are_published_when_it_returns(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path)
    server.start()
    authority, port = _deployment(tmp_path)
    try:
        with (
            AuthorityProcess(
                authority.settings, port, tmp_path / "authority.log", REDIS_URL=server.url
            ),
            GuardedService(
                authority.base_url,
                authority.secrets["orders-svc"],
                revocation_redis_url=server.url,
            ) as service,
        ):
            tokens = [authority.login()["access_token"] for _ in range(3)]
            _revoke(authority, tokens[0])
            service.refused_within(tokens[0], TARGET)
            # Redis goes away with its data saved, then comes back: the published
            # cursor says what it lacks.
            server.stop(save=True)
            _revoke(authority, tokens[1])
            server.start()
            service.refused_within(tokens[1], 30.0)
            # Redis comes back empty: everything in the database is published again.
            server.stop(save=False)
            (tmp_path / "dump.rdb").unlink()
            _revoke(authority, tokens[2])
            server.start()
            service.refused_within(tokens[2], 30.0)
            health = _health(authority)
            assert service.probe(tokens[0]) == (401, "revoked")
    finally:
        server.kill()
    assert health["redis"]["publishing"] is True and health["redis"]["published"] == 3


def _health(authority: Authority) -> dict[str, Any]:
    reply = authority.request("GET", "/healthz")
    assert reply.status == 200
    body: dict[str, Any] = reply.json()
    return body

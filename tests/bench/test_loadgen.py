"""The load generator, the private Redis and the service copies, on small real servers."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs

import orjson
import pytest
import redis
import uvicorn
from fastapi import FastAPI, Request, Response

from jwtmesh.bench._loadgen import (
    LoadGenerator,
    LoadResult,
    LoadSpec,
    Script,
    get_request,
    post_request,
)
from jwtmesh.bench._redis import RedisServer
from jwtmesh.bench._systems import CpuMeter, cpu_delta, mode_env


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello(request: Request) -> Response:
        status = 200 if request.headers.get("authorization") == "Bearer good" else 401
        return Response(b'{"ok":true}', status, media_type="application/json")

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        current = int(form["refresh_token"][0])
        return Response(orjson.dumps({"refresh_token": str(current + 1)}), 200)

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(_app(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def generator() -> Iterator[LoadGenerator]:
    with LoadGenerator.started(2) as started:
        yield started


def test_closed_loop_counts_successes(generator: LoadGenerator, base_url: str) -> None:
    url = base_url + "/hello"
    script = Script(url, (get_request(url, "good"), get_request(url, "bad")))

    result = generator.run(LoadSpec(script, 4, duration=0.4, warmup=0.1))

    assert result.processes == 2
    assert set(result.statuses) == {200, 401}
    assert result.ok == result.statuses[200] > 0
    assert result.success_pct == pytest.approx(100.0 * result.ok / result.total)
    assert 0.0 < result.success_pct < 100.0  # two clients of four hold a bad credential
    assert 0 < result.latency_ms(50) <= result.latency_ms(99)
    assert result.cpu_seconds > 0 and result.ceiling_per_s > 0


def test_refresh_chains_advance(generator: LoadGenerator, base_url: str) -> None:
    script = Script(base_url + "/token", refresh_tokens=("100", "5000"), refresh_client_id="c")

    result = generator.run(LoadSpec(script, 2, duration=0.3, warmup=0.05))

    assert set(result.tokens) == {0, 1}
    assert int(result.tokens[0]) > 100 and int(result.tokens[1]) > 5000
    assert result.statuses == {200: result.ok}


def test_paced_clients_keep_their_rate(generator: LoadGenerator, base_url: str) -> None:
    url = base_url + "/hello"
    spec = LoadSpec(
        Script(url, (get_request(url, "good"),)), 2, 0.5, 0.1, pace_per_s=20.0, timeline=True
    )

    result = generator.run(spec)

    assert 10 <= result.total <= 30  # 2 clients x 20/s x 0.5 s
    assert len(result.starts) == len(result.outcomes) == result.total
    assert all(0.0 <= t <= 0.5 for t in result.starts)


def test_refused_connections_count_as_failures(generator: LoadGenerator) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/x"  # bound, never listening

    result = generator.run(LoadSpec(Script(url, (get_request(url),)), 1, 0.2, 0.05))

    assert result.ok == 0 and result.statuses.get(0, 0) > 0
    assert result.success_pct == 0.0


def test_requests_are_well_formed() -> None:
    get = get_request("http://127.0.0.1:8000/a/b?x=1", "tok")
    post = post_request("http://127.0.0.1:8000/t", b"a=1", "application/x-www-form-urlencoded")

    assert get.startswith(b"GET /a/b?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    assert b"Authorization: Bearer tok\r\n" in get and get.endswith(b"\r\n\r\n")
    assert b"Content-Length: 3\r\n" in post and post.endswith(b"\r\n\r\na=1")


def test_results_merge() -> None:
    first = LoadResult(1.0, [1.0, 2.0], {200: 2, 0: 1}, cpu_seconds=0.1, tokens={0: "a"})
    first.merge(LoadResult(1.0, [3.0], {200: 1}, cpu_seconds=0.2, tokens={1: "b"}))

    assert first.ok == 3 and first.total == 4
    assert first.statuses == {200: 3, 0: 1}
    assert first.tokens == {0: "a", 1: "b"}
    assert first.cpu_seconds == pytest.approx(0.3)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
def test_private_redis_starts_and_stops() -> None:
    with RedisServer.running() as server:
        assert server.port != 6379
        with redis.Redis.from_url(server.url) as conn:
            assert conn.ping()
        assert server.commands_processed() >= 1
        pid = server.pid
        meter = CpuMeter({"redis": [pid]})
        assert meter.sample()["redis"] >= 0.0

    assert not server.alive()
    assert meter.sample() == {"redis": 0.0}  # gone: counts nothing


def test_cpu_delta_is_never_negative() -> None:
    assert cpu_delta({"a": 2.0, "b": 1.0}, {"a": 1.0, "b": 1.5}) == {"a": 0.0, "b": 0.5}


def test_mode_env_configures_each_mode() -> None:
    assert "JWTMESH_GUARD_TOKEN_CACHE_SIZE" in mode_env("jwt", None)
    session = mode_env("session", "redis://127.0.0.1:1/0")
    assert session["JWTMESH_SESSIONS_REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert mode_env("introspection", None)["JWTMESH_GUARD_PUBLIC_PATHS"].endswith("/p1")

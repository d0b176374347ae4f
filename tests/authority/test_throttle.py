"""Login and client-authentication throttling: backoff, 429 + Retry-After, no enumeration."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from jwtmesh.authority import OAuthError, build_authority, create_app
from jwtmesh.authority._throttle import (
    CLIENT_AUTH,
    LOGIN,
    Backoff,
    MemoryCounters,
    Throttle,
    client_address,
)

from .helpers import PASSWORD, Authority, ServerThread, make_settings, seed


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- the rules, without HTTP --------------------------------------------------


def test_backoff_is_free_then_doubles_up_to_the_cap() -> None:
    backoff = Backoff(free=5, base=1.0, max_delay=900.0)
    delays = [backoff.delay(n) for n in range(1, 10)]
    assert delays == [0, 0, 0, 0, 0, 1, 2, 4, 8]
    assert backoff.delay(16) == 900.0
    assert backoff.delay(10_000) == 900.0


def test_memory_counters_lock_then_unlock_then_forget() -> None:
    counters = MemoryCounters(forget_after=60.0)
    backoff = Backoff(free=1, base=2.0, max_delay=10.0)
    assert run(counters.fail("k", backoff, 100.0)) == 0.0
    assert run(counters.fail("k", backoff, 100.0)) == 2.0
    assert run(counters.locked_for(["k", "other"], 101.0)) == pytest.approx(1.0)
    assert run(counters.locked_for(["k"], 102.5)) == 0.0
    assert run(counters.fail("k", backoff, 103.0)) == 4.0  # the count survives the lock
    assert run(counters.locked_for(["k"], 500.0)) == 0.0
    assert len(counters) == 0  # idle for longer than forget_after


def test_memory_counters_are_bounded() -> None:
    counters = MemoryCounters(max_entries=3)
    for i in range(10):
        run(counters.fail(f"user-{i}", Backoff(free=0), 0.0))
    assert len(counters) == 3


async def _login_fails() -> None:
    raise OAuthError("invalid_grant", "invalid username or password", 401)


async def _attempt(throttle: Throttle, subject: str, address: str, ok: bool) -> str:
    try:
        async with throttle.attempt(LOGIN, subject, address):
            if not ok:
                await _login_fails()
    except OAuthError as exc:
        return f"{exc.status} {exc.error} {exc.headers.get('Retry-After', '')}".strip()
    return "200"


def _throttle(free: int = 2, per_address: int = 100) -> tuple[Throttle, Clock]:
    clock = Clock()
    throttle = Throttle(MemoryCounters(), Backoff(free), Backoff(per_address), clock)
    return throttle, clock


def test_success_resets_the_account_but_not_the_address() -> None:
    throttle, _clock = _throttle(free=1, per_address=2)
    assert run(_attempt(throttle, "alice", "198.51.100.1", ok=False)) == "401 invalid_grant"
    assert run(_attempt(throttle, "alice", "198.51.100.1", ok=True)) == "200"
    # The account starts again; the address keeps its two failures so far.
    assert run(_attempt(throttle, "alice", "198.51.100.1", ok=False)) == "401 invalid_grant"
    assert run(_attempt(throttle, "alice", "198.51.100.1", ok=False)) == "401 invalid_grant"
    assert run(_attempt(throttle, "bob", "198.51.100.1", ok=True)) == "429 slow_down 1"


def test_other_errors_are_not_counted() -> None:
    throttle, _clock = _throttle(free=0)

    async def wrong_client() -> str:
        try:
            async with throttle.attempt(LOGIN, "alice", "198.51.100.1"):
                raise OAuthError("invalid_client", "unknown client", 401)
        except OAuthError as exc:
            return exc.error
        return "no error"

    assert run(wrong_client()) == "invalid_client"
    assert run(_attempt(throttle, "alice", "198.51.100.1", ok=True)) == "200"


def test_lock_ends_after_retry_after() -> None:
    throttle, clock = _throttle(free=0)
    assert run(_attempt(throttle, "alice", "198.51.100.1", ok=False)) == "401 invalid_grant"
    assert run(_attempt(throttle, "alice", "198.51.100.1", ok=True)) == "429 slow_down 1"
    clock.now += 1.01
    assert run(_attempt(throttle, "alice", "198.51.100.1", ok=True)) == "200"


# -- which address is the client's --------------------------------------------

_PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    assert client_address("127.0.0.1", "203.0.113.9", ()) == "127.0.0.1"


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    assert client_address("198.51.100.4", "203.0.113.9", _PROXIES) == "198.51.100.4"


def test_forwarded_for_is_read_right_to_left_past_trusted_proxies() -> None:
    header = "1.2.3.4, 203.0.113.9, 10.1.1.1"  # 1.2.3.4 was written by the client itself
    assert client_address("127.0.0.1", header, _PROXIES) == "203.0.113.9"


def test_forwarded_for_garbage_falls_back_to_the_peer() -> None:
    assert client_address("10.0.0.2", "not-an-ip, 10.1.1.1", _PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", None, _PROXIES) == "10.0.0.2"


# -- over HTTP -----------------------------------------------------------------


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[tuple[Authority, Clock]]:
    """An authority that locks after 2 failures per account, 100 per address; a hand clock."""
    settings = make_settings(
        tmp_path, throttle_free_failures=2, throttle_free_failures_per_address=100
    )
    client_secrets = seed(settings)
    app = create_app(settings)
    clock = Clock()
    app.state.throttle.clock = clock
    with ServerThread(app) as server:
        yield Authority(f"http://127.0.0.1:{server.port}", settings, client_secrets), clock


def _login(authority: Authority, username: str, password: str) -> tuple[int, Any, str | None]:
    reply = authority.request("POST", "/login", json={"username": username, "password": password})
    return reply.status, reply.json(), reply.headers.get("Retry-After")


def test_login_lockout_answers_429_with_retry_after(strict: tuple[Authority, Clock]) -> None:
    authority, clock = strict
    for _ in range(3):  # two free failures, the third locks for 1 s
        status, body, _retry = _login(authority, "alice", "wrong")
        assert (status, body["error"]) == (401, "invalid_grant")
    status, body, retry = _login(authority, "alice", PASSWORD)  # even the right password
    assert (status, body["error"], retry) == (429, "slow_down", "1")
    clock.now += 1.01
    status, body, _retry = _login(authority, "alice", "wrong")  # 4th failure: 2 s
    assert status == 401
    status, body, retry = _login(authority, "alice", "wrong")
    assert (status, body["error"], retry) == (429, "slow_down", "2")


def test_success_resets_the_account_over_http(strict: tuple[Authority, Clock]) -> None:
    authority, _clock = strict
    for _ in range(2):
        assert _login(authority, "carol", "wrong")[0] == 401
    assert _login(authority, "carol", PASSWORD)[0] == 200
    for _ in range(3):
        assert _login(authority, "carol", "wrong")[0] == 401
    assert _login(authority, "carol", "wrong")[0] == 429


def test_unknown_user_gets_exactly_the_same_answers(strict: tuple[Authority, Clock]) -> None:
    authority, _clock = strict
    known = [_login(authority, "alice", "wrong") for _ in range(4)]
    unknown = [_login(authority, "nobody-at-all", "wrong") for _ in range(4)]
    assert known == unknown
    assert [status for status, _body, _retry in known] == [401, 401, 401, 429]


class SpyHasher:
    """Records which hashes an argon2 ``PasswordHasher`` is asked to verify."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.verified: list[str] = []

    def verify(self, password_hash: str, password: str) -> Any:
        self.verified.append(password_hash)
        return self.real.verify(password_hash, password)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_unknown_user_costs_one_password_hash_like_a_known_one(tmp_path: Path) -> None:
    """Same code path, not a timing measurement: each failure verifies one argon2 hash."""
    settings = make_settings(tmp_path)
    seed(settings)
    authority = build_authority(settings)
    spy = SpyHasher(authority.passwords._hasher)
    authority.passwords._hasher = spy  # type: ignore[assignment]
    verified = spy.verified
    try:
        for username in ("alice", "nobody-at-all"):
            with pytest.raises(OAuthError) as caught:
                authority.login(username, "wrong")
            assert (caught.value.status, caught.value.error) == (401, "invalid_grant")
    finally:
        authority.store.close()
    dummy = authority.passwords._dummy
    assert len(verified) == 2
    assert verified[0] != dummy and verified[0].startswith("$argon2id$")
    assert verified[1] == dummy


def test_client_secret_guessing_is_throttled(strict: tuple[Authority, Clock]) -> None:
    authority, _clock = strict
    form = {"grant_type": "client_credentials"}
    for _ in range(3):
        reply = authority.token(form, basic=("orders-svc", "guess"))
        assert (reply.status, reply.json()["error"]) == (401, "invalid_client")
    locked = authority.token(form, basic=authority.creds("orders-svc"))
    assert (locked.status, locked.json()["error"]) == (429, "slow_down")
    assert locked.headers["Retry-After"] == "1"
    other = authority.token(form, basic=authority.creds("catalog-svc"))
    assert other.status == 200


@pytest.fixture(params=[("127.0.0.1",), ()], ids=["trusted-proxy", "no-proxy"])
def per_address(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Authority]:
    """Per-address limit 1, per-account limit 1000; 127.0.0.1 trusted as a proxy or not."""
    settings = make_settings(
        tmp_path,
        throttle_free_failures=1000,
        throttle_free_failures_per_address=1,
        trusted_proxies=request.param,
    )
    seed(settings)
    with DirectServer(create_app(settings)) as server:
        yield Authority(f"http://127.0.0.1:{server.port}", settings)


class DirectServer(ServerThread):
    """uvicorn with its own proxy-header handling off: only the authority reads the header.

    (uvicorn's default trusts ``X-Forwarded-For`` from 127.0.0.1 and rewrites the peer.)
    """

    def __init__(self, app: FastAPI) -> None:
        super().__init__(app)
        config = uvicorn.Config(app, log_level="warning", proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )


def _login_from(authority: Authority, forwarded_for: str, username: str) -> int:
    reply = authority.request(
        "POST",
        "/login",
        json={"username": username, "password": "wrong"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return reply.status


def test_address_counter_spans_usernames(per_address: Authority) -> None:
    assert _login_from(per_address, "203.0.113.7", "u1") == 401
    assert _login_from(per_address, "203.0.113.7", "u2") == 401  # second failure: locked
    assert _login_from(per_address, "203.0.113.7", "u3") == 429


def test_forwarded_for_is_trusted_only_from_a_configured_proxy(per_address: Authority) -> None:
    for username in ("u1", "u2"):
        assert _login_from(per_address, "203.0.113.7", username) == 401
    other_client = _login_from(per_address, "203.0.113.8", "u4")
    trusted = bool(per_address.settings.trusted_proxies)
    # Behind a trusted proxy another client is not locked; without one, a
    # different header cannot dodge the lock of the real peer address.
    assert other_client == (401 if trusted else 429)


def test_login_and_client_kinds_do_not_share_counters() -> None:
    assert LOGIN.name != CLIENT_AUTH.name
    assert (LOGIN.counted_error, CLIENT_AUTH.counted_error) == ("invalid_grant", "invalid_client")

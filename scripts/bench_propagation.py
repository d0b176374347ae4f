"""How long a revocation takes to reach every service: revoke call -> first 401 ``revoked``.

Starts the demo (the authority and four guarded services, each its own
process on 127.0.0.1) once per transport: ``feed`` (the guards long-poll the
authority's revocation feed, the default) and ``redis`` (the authority
publishes to a Redis stream the guards block on).  Then, ``--rounds`` times:
log in, check the token works at every service, revoke it (RFC 7009) and
poll every service at once until each answers 401 ``revoked``; the latency
of a service is measured from just before the revoke call.

Prints p50/p95/p99/max per service and transport, side by side, and writes
the raw latencies and the summary to ``<out>/propagation.json``.  Exit code
1 when a transport misses the target (p99 <= 1 s).  Run: ``make bench-propagation``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import platform
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis

from jwtmesh.demo import DemoSystem

TARGET_MS = 1000.0
POLL_INTERVAL = 0.002  # seconds between two probes of one service
GIVE_UP = 10.0  # seconds: a revocation slower than this counts as lost
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class Transport:
    """One way revocations travel, and what it measured."""

    name: str
    env: dict[str, str]
    latencies: dict[str, list[float]] = field(default_factory=dict)  # service -> ms
    lost: int = 0
    rounds: int = 0
    skipped: str | None = None
    cleanup: list[str] = field(default_factory=list)  # Redis keys to delete


def _redis_transport(url: str) -> Transport:
    prefix = f"jwtmesh:bench:{uuid.uuid4().hex[:12]}"
    stream = f"{prefix}:revocations"
    env = {
        "JWTMESH_REDIS_URL": url,
        "JWTMESH_REVOCATION_STREAM": stream,
        "JWTMESH_THROTTLE_REDIS_PREFIX": f"{prefix}:throttle:",
        "JWTMESH_GUARD_REVOCATION_REDIS_URL": url,
        "JWTMESH_GUARD_REVOCATION_STREAM": stream,
    }
    return Transport("redis", env, cleanup=[stream, f"{stream}:published"])


def _redis_problem(url: str) -> str | None:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2) as client:
            client.ping()
    except redis.RedisError as exc:
        return f"Redis at {url} is not reachable ({type(exc).__name__})"
    return None


# -- one round ------------------------------------------------------------------


async def _login(http: aiohttp.ClientSession, demo: DemoSystem) -> str:
    account = demo.account("alice")
    body = {"username": account.username, "password": account.password}
    async with http.post(demo.login_url, json=body) as response:
        answer = await response.json()
        if response.status != 200:
            raise RuntimeError(f"login failed: HTTP {response.status} {answer.get('error')}")
        token: str = answer["access_token"]
        return token


async def _probe(http: aiohttp.ClientSession, url: str, token: str) -> tuple[int, str]:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
        body = await response.read()
        if response.status < 400:
            return response.status, ""
        description = str(json.loads(body).get("error_description", ""))
        return response.status, description.split(":", 1)[0]


async def _first_rejection(http: aiohttp.ClientSession, url: str, token: str) -> float | None:
    """Monotonic time of the first 401 ``revoked``; None past GIVE_UP."""
    deadline = time.monotonic() + GIVE_UP
    while time.monotonic() < deadline:
        status, code = await _probe(http, url, token)
        if status == 401 and code == "revoked":
            return time.monotonic()
        if status != 200:
            raise RuntimeError(f"unexpected answer {status} {code} from {url}")
        await asyncio.sleep(POLL_INTERVAL)
    return None


async def _revoke(http: aiohttp.ClientSession, demo: DemoSystem, token: str) -> None:
    form = {"token": token, "token_type_hint": "access_token", "client_id": "shop-web"}
    async with http.post(f"{demo.issuer}/oauth/revoke", data=form) as response:
        if response.status != 200:
            raise RuntimeError(f"revoke failed: HTTP {response.status}")


async def _round(http: aiohttp.ClientSession, demo: DemoSystem, transport: Transport) -> None:
    token = await _login(http, demo)
    probes = {name: f"{s.url}{s.probe}" for name, s in demo.services.items()}
    for name, url in probes.items():
        status, code = await _probe(http, url, token)
        if status != 200:
            raise RuntimeError(f"{name} refused a fresh token: {status} {code}")
    watchers = {
        name: asyncio.ensure_future(_first_rejection(http, url, token))
        for name, url in probes.items()
    }
    started = time.monotonic()
    await _revoke(http, demo, token)
    for name, watcher in watchers.items():
        seen = await watcher
        if seen is None:
            transport.lost += 1
            continue
        transport.latencies.setdefault(name, []).append((seen - started) * 1000)
    transport.rounds += 1


async def _measure(demo: DemoSystem, transport: Transport, rounds: int, budget: float) -> None:
    deadline = time.monotonic() + budget
    timeout = aiohttp.ClientTimeout(total=15)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        await _warm_up(http, demo)
        for _ in range(rounds):
            if time.monotonic() > deadline:
                print(f"  {transport.name}: time budget spent after {transport.rounds} rounds")
                break
            await _round(http, demo, transport)


async def _warm_up(http: aiohttp.ClientSession, demo: DemoSystem) -> None:
    """Wait until every guard reports its revocation source synced (not measured)."""
    deadline = time.monotonic() + 20
    for service in demo.services.values():
        while True:
            async with http.get(f"{service.url}/healthz") as response:
                report = await response.json()
            if report.get("revocation", {}).get("synced"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service.name}: revocation source never synced")
            await asyncio.sleep(0.05)


def run_transport(transport: Transport, rounds: int, budget: float) -> None:
    """Start the demo for ``transport``, measure, stop it."""
    started = time.monotonic()
    with DemoSystem(extra_env=transport.env) as demo:
        print(f"  {transport.name}: demo up in {time.monotonic() - started:.1f}s", flush=True)
        asyncio.run(_measure(demo, transport, rounds, budget))


# -- figures ----------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float | int]:
    """n, p50, p95, p99 and max in milliseconds."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(max(values), 2),
    }


def _summaries(transport: Transport) -> dict[str, dict[str, float | int]]:
    rows = {name: summary(values) for name, values in sorted(transport.latencies.items())}
    rows["all services"] = summary([v for vs in transport.latencies.values() for v in vs])
    return rows


def _cells(row: dict[str, float | int] | None) -> str:
    if not row or not row.get("n"):
        return f"{'-':>8}{'-':>8}{'-':>8}{'-':>8}"
    return "".join(f"{row[k]:>8.1f}" for k in ("p50", "p95", "p99", "max"))


def print_table(transports: Sequence[Transport]) -> None:
    """Per service and transport: p50, p95, p99, max in ms, transports side by side."""
    tables = {t.name: _summaries(t) for t in transports}
    names = sorted({n for table in tables.values() for n in table}, key=_row_order)
    head = "".join(f"{t.name + ' (ms)':^32}|" for t in transports)
    sub = "".join(f"{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}|" for _ in transports)
    print(f"\n{'revoke -> first 401 revoked':<28}|{head}")
    print(f"{'service':<28}|{sub}")
    print("-" * (29 + 33 * len(transports)))
    for name in names:
        print(f"{name:<28}|" + "".join(_cells(tables[t.name].get(name)) + "|" for t in transports))
    for t in transports:
        print(f"{t.name}: {_verdict(t)}")


def _row_order(name: str) -> tuple[int, str]:
    return (1, name) if name == "all services" else (0, name)


def _verdict(transport: Transport) -> str:
    if transport.skipped:
        return f"skipped ({transport.skipped})"
    overall = summary([v for vs in transport.latencies.values() for v in vs])
    if not overall.get("n"):
        return "no measurement"
    met = overall["p99"] <= TARGET_MS and transport.lost == 0
    state = "met" if met else "MISSED"
    return (
        f"{transport.rounds} rounds, {overall['n']} rejections, {transport.lost} lost; "
        f"target p99 <= {TARGET_MS:.0f} ms {state} (p99 {overall['p99']:.1f} ms)"
    )


def _met(transport: Transport) -> bool:
    if transport.skipped:
        return True
    overall = summary([v for vs in transport.latencies.values() for v in vs])
    return bool(overall.get("n")) and overall["p99"] <= TARGET_MS and transport.lost == 0


def write_json(out: Path, transports: Sequence[Transport], args: argparse.Namespace) -> Path:
    """Raw latencies and summaries, with the settings of the run."""
    out.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {
        "benchmark": "revocation propagation (revoke call -> first 401 revoked)",
        "unit": "ms",
        "target_p99_ms": TARGET_MS,
        "rounds_requested": args.rounds,
        "poll_interval_ms": POLL_INTERVAL * 1000,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "transports": {
            t.name: {
                "skipped": t.skipped,
                "rounds": t.rounds,
                "lost": t.lost,
                "target_met": _met(t),
                "summary": _summaries(t),
                "latencies": t.latencies,
            }
            for t in transports
        },
    }
    path = out / "propagation.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


# -- main --------------------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=50, help="revocations per transport")
    parser.add_argument("--out", type=Path, default=Path("results/propagation"))
    parser.add_argument("--transports", default="feed,redis", help="comma separated")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument(
        "--budget", type=float, default=45.0, help="seconds of measuring per transport"
    )
    return parser.parse_args(argv)


def _transports(args: argparse.Namespace) -> list[Transport]:
    chosen = [name.strip() for name in args.transports.split(",") if name.strip()]
    transports = []
    for name in chosen:
        if name == "feed":
            transports.append(Transport("feed", {}))
        elif name == "redis":
            transport = _redis_transport(args.redis_url)
            transport.skipped = _redis_problem(args.redis_url)
            transports.append(transport)
        else:
            raise SystemExit(f"unknown transport {name!r} (feed, redis)")
    return transports


def _forget_keys(transport: Transport, url: str) -> None:
    if not transport.cleanup or transport.skipped:
        return
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2) as client:
            client.delete(*transport.cleanup)
    except redis.RedisError:
        pass  # a leftover stream trims itself; nothing to do


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every transport, print the table, write the JSON; 1 if a target is missed."""
    args = _arguments(argv)
    transports = _transports(args)
    started = time.monotonic()
    for transport in transports:
        if transport.skipped:
            print(f"  {transport.name}: skipped, {transport.skipped}")
            continue
        try:
            run_transport(transport, args.rounds, args.budget)
        finally:
            _forget_keys(transport, args.redis_url)
    print_table(transports)
    path = write_json(args.out, transports, args)
    print(f"\nwritten {path} in {time.monotonic() - started:.1f}s")
    return 0 if all(_met(t) for t in transports) else 1


if __name__ == "__main__":
    sys.exit(main())

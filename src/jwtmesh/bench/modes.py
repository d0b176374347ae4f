"""The three guard modes over HTTP, against the same service with no authentication.

Each mode is a demo shop of its own (started once per run); the measured
call is a GET of the catalog with the client's credential, reused as real
clients reuse it: an access token (jwt, introspection) or a session id
(session), one per simulated client, logged in before the measurement.
``noauth`` is the same service's twin route, which its guard lets through.
A full run adds ``jwt-nocache`` (the jwt service with its verified-token
cache off: every request pays the signature) and ``introspection-cached``
(introspection answers kept 5 s), as benchmark-started copies of the service.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

from ._context import Context, Section
from ._loadgen import LoadSpec, Script, get_request
from ._measure import Counters, Point, measure, shared_fleet, shared_generator
from ._model import Row, SectionResult
from ._systems import MEASURED_PATH, PUBLIC_PATH, Fleet, ModeSystem, ServicePool, get_json
from ._timing import rotate

__all__ = ["SECTION", "Target", "run_http", "targets"]

INTROSPECTION_CACHE_SECONDS = 5


@dataclass
class Target:
    """One contender: its URL, whether it sends a credential, its processes and counters."""

    mode: str
    system: ModeSystem
    base_url: str
    path: str
    service_pids: list[int]
    counters: Counters | None = None
    authenticated: bool = True

    def script(self, clients: int) -> Script:
        """One request per client, each with its own credential."""
        url = self.base_url + self.path
        if not self.authenticated:
            return Script(url, (get_request(url),))
        credentials = self.system.credentials_for(clients)

        return Script(url, tuple(get_request(url, c) for c in credentials))

    def groups(self) -> dict[str, list[int]]:
        """Process ids by role for the CPU meter."""
        return {**self.system.pids(), "service": self.service_pids}


def jwks_fetches(base_url: str) -> Counters:
    """The guard's JWKS fetch count, from the service's health report."""

    def read() -> dict[str, float]:
        report = get_json(base_url + "/healthz")
        return {"backend_calls": float(report.get("jwks", {}).get("fetches", 0))}

    return read


def redis_commands(system: ModeSystem) -> Counters:
    """Commands Redis served (less the INFO call that reads the count)."""
    redis = system.redis
    assert redis is not None

    def read() -> dict[str, float]:
        return {"backend_calls": float(redis.commands_processed())}

    return read


def _demo_target(mode: str, system: ModeSystem, counters: Counters | None) -> Target:
    pid = system.demo.pids()["catalog"]

    return Target(mode, system, system.service.url, MEASURED_PATH, [pid], counters)


def targets(fleet: Fleet, stack: ExitStack, extras: bool) -> list[Target]:
    """The contenders; ``extras`` starts the cache-off / cache-on copies too."""
    jwt, session, intro = fleet["jwt"], fleet["session"], fleet["introspection"]
    noauth = _demo_target("noauth", jwt, None)
    noauth.path, noauth.authenticated = PUBLIC_PATH, False
    found = [
        noauth,
        _demo_target("jwt", jwt, jwks_fetches(jwt.service.url)),
        _demo_target("session", session, redis_commands(session)),
        _demo_target("introspection", intro, None),
    ]
    if extras:
        found += list(_copies(jwt, intro, stack))

    return found


def _copies(jwt: ModeSystem, intro: ModeSystem, stack: ExitStack) -> Iterator[Target]:
    nocache = {"JWTMESH_GUARD_TOKEN_CACHE_SIZE": "0"}
    cached = {"JWTMESH_GUARD_INTROSPECTION_CACHE_SECONDS": str(INTROSPECTION_CACHE_SECONDS)}
    for mode, system, overrides in (
        ("jwt-nocache", jwt, nocache),
        ("introspection-cached", intro, cached),
    ):
        pool = stack.enter_context(ServicePool.running(system.service_env(), 1, overrides))
        counters = jwks_fetches(pool.url) if system.mode == "jwt" else None
        yield Target(mode, system, pool.url, MEASURED_PATH, pool.pids, counters)


def _values(point: Point, target: Target) -> dict[str, float]:
    values = point.values()
    if target.mode == "session" and "backend_calls" in point.counters:
        # The INFO that read the count after the window counted the one before it.
        calls = max(0.0, point.counters["backend_calls"] - 1)
        values["backend_calls_per_request"] = calls / max(point.result.total, 1)

    return values


def run_http(ctx: Context) -> SectionResult:
    """Every contender at every concurrency level, contenders interleaved within a level."""
    levels = (1, 8) if ctx.quick else (1, 4, 16, 64)
    duration, warmup = (0.5, 0.15) if ctx.quick else (6.0, 0.5)
    fleet, generator = shared_fleet(ctx), shared_generator(ctx)
    section = SectionResult("http", SECTION.title, _METHOD.format(d=duration))
    with ExitStack() as stack:
        contenders = targets(fleet, stack, extras=not ctx.quick)
        for target in contenders:
            target.script(levels[-1])  # log every client in before measuring anything
        task = ctx.task("modes over HTTP", len(levels) * len(contenders))
        for i, clients in enumerate(levels):
            for target in rotate(contenders, i):
                spec = LoadSpec(target.script(clients), clients, duration, warmup)
                point = measure(generator, spec, target.groups(), target.counters)
                row = Row({"mode": target.mode, "concurrency": clients}, _values(point, target))
                section.rows.append(row)
                task.advance()
    summarize(section, generator.processes)

    return section


def _rps(section: SectionResult, mode: str) -> dict[int, float]:
    return {
        int(r.case["concurrency"]): r.values["requests_per_s"] for r in section.select(mode=mode)
    }


def _min_ratio(section: SectionResult, top: str, bottom: str) -> float | None:
    above, below = _rps(section, top), _rps(section, bottom)
    ratios = [above[c] / below[c] for c in above if below.get(c)]

    return min(ratios) if ratios else None


def _at_peak(section: SectionResult, mode: str, metric: str) -> float | None:
    rows = sorted(section.select(mode=mode), key=lambda r: int(r.case["concurrency"]))

    return rows[-1].values.get(metric) if rows else None


def summarize(section: SectionResult, generator_processes: int) -> None:
    """Ratios between modes, backend cost per request, the generator's ceiling; notes."""
    s = section.summary
    for top, bottom in (
        ("jwt", "noauth"),
        ("jwt", "session"),
        ("jwt", "introspection"),
        ("session", "noauth"),
        ("introspection", "noauth"),
        ("jwt-nocache", "noauth"),
        ("introspection-cached", "noauth"),
    ):
        ratio = _min_ratio(section, top, bottom)
        if ratio is not None:
            s[f"{top.replace('-', '_')}_over_{bottom}_min_ratio"] = ratio
    for mode in ("jwt", "session", "introspection"):
        for metric in ("backend_cpu_ms_per_request", "service_cpu_ms_per_request"):
            value = _at_peak(section, mode, metric)
            if value is not None:
                s[f"{mode}_{metric}"] = value
        calls = _calls_per_request(section, mode)
        if calls is not None:
            s[f"{mode}_backend_calls_per_request"] = calls
    _generator_summary(section, generator_processes)
    section.notes += _notes(section)


def _calls_per_request(section: SectionResult, mode: str) -> float | None:
    rows = [r for r in section.select(mode=mode) if "backend_calls_per_request" in r.values]
    if not rows:
        return None
    calls = sum(r.values["backend_calls_per_request"] * _requests(r) for r in rows)

    return calls / max(sum(_requests(r) for r in rows), 1.0)


def _requests(row: Row) -> float:
    return row.values["requests_per_s"]  # same duration for every point: a fair weight


def _generator_summary(section: SectionResult, processes: int) -> None:
    peak = _at_peak(section, "noauth", "requests_per_s") or 0.0
    busy = _at_peak(section, "noauth", "loadgen_busy_pct") or 0.0
    # Busy share at the no-auth peak gives the rate at which the generator saturates.
    ceiling = peak * 100.0 / busy if busy > 0 else 0.0
    fastest = max((r.values["requests_per_s"] for r in section.rows), default=0.0)
    section.summary.update(
        {
            "loadgen_processes": processes,
            "loadgen_noauth_per_s": peak,
            "loadgen_busy_pct_at_noauth_peak": busy,
            "loadgen_ceiling_per_s": ceiling,
            "loadgen_headroom_ratio": ceiling / fastest if fastest else 0.0,
        }
    )


def _notes(section: SectionResult) -> list[str]:
    s = section.summary
    notes = [
        f"Load generator: {s['loadgen_processes']} process(es); against the no-auth route it "
        f"sent {s['loadgen_noauth_per_s']:,.0f} requests/s while "
        f"{s['loadgen_busy_pct_at_noauth_peak']:.0f}% busy, a ceiling of about "
        f"{s['loadgen_ceiling_per_s']:,.0f} requests/s "
        f"({s['loadgen_headroom_ratio']:.1f}x the fastest point measured).",
    ]
    notes += _noauth_note(section)
    notes += _session_note(section)

    return notes


def _cpu(section: SectionResult, mode: str, metric: str = "service_cpu_ms_per_request") -> float:
    values = [r.values[metric] for r in section.select(mode=mode) if metric in r.values]

    return sum(values) / len(values) if values else 0.0


def _noauth_note(section: SectionResult) -> list[str]:
    ratio = section.summary.get("jwt_over_noauth_min_ratio")
    if not isinstance(ratio, float) or ratio >= 0.9:
        return []
    jwt, noauth = _cpu(section, "jwt"), _cpu(section, "noauth")

    return [
        f"jwt mode reaches {ratio:.2f}x the no-auth throughput at its lowest level: the "
        f"service process is the bottleneck, and spends {jwt:.3f} ms of CPU per request in "
        f"jwt mode against {noauth:.3f} ms with no auth (mean over the levels), so "
        f"{1000 * (jwt - noauth):.0f} us per request go to the guard on a verified-token cache "
        "hit: reading the bearer header, matching the route rule, the cache lookup and the "
        "principal, on a handler that itself costs about 0.1 ms."
    ]


def _session_note(section: SectionResult) -> list[str]:
    jwt, session = _rps(section, "jwt"), _rps(section, "session")
    behind = sorted(c for c in jwt if session.get(c) and jwt[c] < session[c])
    if not behind:
        return ["jwt mode is at or above session mode at every concurrency level tested."]

    def cpu(mode: str, clients: int, metric: str) -> float:
        rows = section.select(mode=mode, concurrency=clients)
        return rows[0].values.get(metric, 0.0) if rows else 0.0

    details = "; ".join(
        f"at {c} clients {jwt[c]:,.0f} vs {session[c]:,.0f} requests/s, service CPU per "
        f"request {cpu('jwt', c, 'service_cpu_ms_per_request'):.3f} vs "
        f"{cpu('session', c, 'service_cpu_ms_per_request'):.3f} ms"
        for c in behind
    )

    return [
        f"jwt mode is below session mode at {len(behind)} level(s): {details}. Where the "
        "service CPU per request is about equal, the gap is within the noise of this shared "
        "machine; where jwt's is higher, its local verification costs more than one Redis "
        "round trip."
    ]


_METHOD = (
    "Per mode, closed-loop clients ({d:g} s per point after a discarded warm-up, each client "
    "on its own keep-alive connection) call GET /catalog/products/p2 on the catalog service "
    "directly (one hop), with their own credential, reused; noauth is the same service's "
    "GET /catalog/products/p1, made public in its guard. CPU per request is the CPU time "
    "(user + system) of the service process and of its backends (authority, Redis) over the "
    "measured window, divided by the requests completed in it. Backend calls: JWKS fetches "
    "(jwt, read from the service's health report) or Redis commands (session); "
    "introspection makes one call per request by design (no cache)."
)

SECTION = Section("http", "Modes over HTTP", run_http, needs_servers=True)

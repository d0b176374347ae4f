"""Token endpoint under load: login, client credentials and refresh at low, medium and peak load.

One authority process (one uvicorn worker) of the jwt-mode demo shop is
driven over HTTP by closed-loop clients.  Login sends the password of a
demo account (argon2id at the authority's configured cost); client
credentials is the catalog's own client (HTTP Basic); refresh follows one
refresh-token chain per client, each answer's rotated token feeding the next
request, as a real client does.  The bare argon2id verification, timed in
this process with the same parameters, is the yardstick for login.
"""

from __future__ import annotations

import base64
import statistics
import time
from urllib.parse import quote

import orjson
from argon2 import PasswordHasher, Type

from ._context import Context, Section
from ._loadgen import LoadSpec, Script, post_request
from ._measure import Point, measure, shared_fleet, shared_generator
from ._model import Row, SectionResult
from ._systems import ModeSystem, login
from ._timing import rotate

__all__ = ["GRANTS", "SECTION", "run_token_endpoint"]

GRANTS = ("login", "client_credentials", "refresh")
CLIENT = "catalog"  # a confidential client of the demo allowed client_credentials


def _login_script(system: ModeSystem) -> Script:
    url = system.demo.login_url
    requests = tuple(
        post_request(
            url,
            orjson.dumps({"username": a.username, "password": a.password}),
            "application/json",
        )
        for a in system.demo.accounts
    )

    return Script(url, requests)


def _client_credentials_script(system: ModeSystem) -> Script:
    service = system.demo.services[CLIENT]
    # RFC 6749 section 2.3.1: id and secret are form-encoded before Basic.
    pair = f"{quote(service.client_id, safe='')}:{quote(service.client_secret, safe='')}"
    basic = "Basic " + base64.b64encode(pair.encode("ascii")).decode("ascii")
    body = f"grant_type=client_credentials&audience={quote(service.audience)}".encode("ascii")
    url = system.demo.token_url

    return Script(url, (post_request(url, body, "application/x-www-form-urlencoded", basic),))


def _refresh_script(system: ModeSystem, tokens: list[str]) -> Script:
    client_id = system.demo.authority_settings.default_client_id

    return Script(system.demo.token_url, refresh_tokens=tuple(tokens), refresh_client_id=client_id)


def time_password_hash(system: ModeSystem, samples: int) -> list[float]:
    """Milliseconds per argon2id verification, same parameters as the authority."""
    settings = system.demo.authority_settings
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=1,
        type=Type.ID,
    )
    password = "correct horse battery staple"
    encoded = hasher.hash(password)
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        hasher.verify(encoded, password)
        times.append((time.perf_counter() - start) * 1000.0)

    return times


class _Chains:
    """The refresh-token chains, carried from one load level to the next."""

    def __init__(self, system: ModeSystem, clients: int) -> None:
        self.tokens = [str(a["refresh_token"]) for a in login(system.demo, clients)]

    def script(self, system: ModeSystem, clients: int) -> Script:
        return _refresh_script(system, self.tokens[:clients])

    def advance(self, point: Point) -> None:
        for client, token in point.result.tokens.items():
            self.tokens[client] = token


def _summary(section: SectionResult, hash_ms: list[float], levels: tuple[int, ...]) -> None:
    def best(grant: str) -> float:
        return max(r.values["requests_per_s"] for r in section.select(grant=grant))

    def p50(grant: str, clients: int) -> float:
        return section.select(grant=grant, clients=clients)[0].values["p50_ms"]

    low, peak = levels[0], levels[-1]
    hash_p50 = statistics.median(hash_ms)
    per_token_low = p50("client_credentials", low) / low
    per_token_peak = p50("client_credentials", peak) / peak
    section.summary.update(
        {
            "client_credentials_per_s": best("client_credentials"),
            "refresh_per_s": best("refresh"),
            "login_per_s": best("login"),
            "password_hash_p50_ms": hash_p50,
            "login_p50_ms": p50("login", low),
            "login_over_hash_ratio": p50("login", low) / hash_p50,
            "generation_peak_over_low_ratio": per_token_peak / per_token_low,
        }
    )


def run_token_endpoint(ctx: Context) -> SectionResult:
    """Measure each grant at each load level, grants interleaved within a level."""
    levels = (1, 8) if ctx.quick else (1, 16, 64)
    duration, warmup = (0.5, 0.15) if ctx.quick else (5.0, 0.5)
    system = shared_fleet(ctx)["jwt"]
    generator = shared_generator(ctx)
    chains = _Chains(system, levels[-1])
    scripts = {
        "login": _login_script(system),
        "client_credentials": _client_credentials_script(system),
    }
    groups = {"authority": [system.demo.pids()["authority"]]}
    section = SectionResult("token_endpoint", SECTION.title, _METHOD.format(d=duration))
    hash_ms = time_password_hash(system, ctx.pick(3, 15))
    task = ctx.task("token endpoint", len(levels) * len(GRANTS))
    for i, clients in enumerate(levels):
        for grant in rotate(GRANTS, i):
            script = chains.script(system, clients) if grant == "refresh" else scripts[grant]
            spec = LoadSpec(script, clients, duration, warmup)
            point = measure(generator, spec, groups)
            if grant == "refresh":
                chains.advance(point)
            values = point.values()
            values["authority_cpu_ms_per_request"] = point.cpu_ms_per_request("authority")
            section.rows.append(Row({"grant": grant, "clients": clients}, values))
            task.advance()
        if clients == levels[0]:
            hash_ms += time_password_hash(system, ctx.pick(3, 15))
    _summary(section, hash_ms, levels)
    section.notes += _notes(section)

    return section


def _authority_ms(section: SectionResult, grant: str) -> float:
    values = [
        r.values.get("authority_cpu_ms_per_request", 0.0) for r in section.select(grant=grant)
    ]

    return sum(values) / len(values) if values else 0.0


def _notes(section: SectionResult) -> list[str]:
    s = section.summary
    refresh, issue = _authority_ms(section, "refresh"), _authority_ms(section, "client_credentials")
    beyond = float(s["login_p50_ms"]) - float(s["password_hash_p50_ms"])

    return [
        f"Authority CPU per answer (mean over the levels): refresh {refresh:.2f} ms, client "
        f"credentials {issue:.2f} ms. Both sign one access token; a refresh also reads, "
        "rotates and stores refresh tokens in the authority's database (SQLite in the demo), "
        "which is where the difference goes.",
        f"Login beyond the bare hash: {beyond:.1f} ms at one client (HTTP, client and user "
        "lookup, the new refresh token stored, the access token signed).",
        f"Bare argon2id verification in-process: p50 {s['password_hash_p50_ms']:.1f} ms; "
        f"login p50 at one client {s['login_p50_ms']:.1f} ms "
        f"({s['login_over_hash_ratio']:.2f}x).",
        "Generation time by load compares the client-credentials p50 per token in flight "
        "(p50 divided by the number of clients): the raw p50 grows with the queue in front "
        "of one worker, the work per token does not.",
        "Keycloak's published sizing, for scale: about 120 client-credentials grants and "
        "120 refreshes per second per vCPU.",
    ]


_METHOD = (
    "Closed-loop clients (each on its own keep-alive connection, {d:g} s per point after a "
    "discarded warm-up) against one authority process: POST /login (argon2id), "
    "POST /oauth/token with grant_type=client_credentials (HTTP Basic) and with "
    "grant_type=refresh_token (each client follows its own rotating chain). Latency is "
    "per request as the client sees it; requests/s counts successful answers."
)

SECTION = Section(
    "token_endpoint", "Token endpoint under load", run_token_endpoint, needs_servers=True
)

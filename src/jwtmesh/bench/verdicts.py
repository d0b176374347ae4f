"""Every claim the benchmark checks, and how a run's numbers decide it.

A claim reads the ``summary`` of one or more sections. When a section did
not run (or failed), the verdict is "not measured in this run". Summary keys
that sections yet to come are expected to provide:

- ``token_endpoint``: ``client_credentials_per_s`` and ``refresh_per_s`` (one
  authority worker, best concurrency), ``login_over_hash_ratio`` (login p50 over
  the bare password-hash p50), ``generation_peak_over_low_ratio`` (p50 at 64
  clients over p50 at 1 client, per token issued).
- ``http``: ``jwt_over_noauth_min_ratio``, ``jwt_over_session_min_ratio``,
  ``jwt_over_introspection_min_ratio`` (requests/s ratios, lowest over the
  concurrency levels), ``jwt_backend_cpu_ms_per_request``,
  ``session_backend_cpu_ms_per_request``, ``jwt_backend_calls_per_request``.
- ``availability``: ``jwt_success_pct`` (authority stopped),
  ``session_success_pct`` (Redis stopped), ``introspection_success_pct``.
- ``scaleout``: ``jwt_scaleout_ratio``, ``session_scaleout_ratio`` (two
  service processes over one, requests/s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._model import Results

__all__ = [
    "CLAIMS",
    "DOES_NOT_HOLD",
    "HOLDS",
    "NOT_MEASURABLE",
    "NOT_MEASURED",
    "PARTLY",
    "Claim",
    "Verdict",
    "evaluate",
]

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
PARTLY = "partly"
NOT_MEASURED = "not measured in this run"
NOT_MEASURABLE = "not a measurement"

Outcome = tuple[str, str]  # (status, evidence)
Number = float | int


@dataclass(frozen=True)
class Claim:
    """One statement, where it comes from, and the sections whose numbers decide it."""

    key: str
    source: str
    short: str
    sections: tuple[str, ...]
    decide: Callable[[Results], Outcome]


@dataclass(frozen=True)
class Verdict:
    """A claim with its status and the measured evidence, in words."""

    claim: Claim
    status: str
    evidence: str


def _num(results: Results, section: str, key: str) -> float | None:
    found = results.get(section)
    if found is None:
        return None
    value = found.summary.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None

    return float(value)


def _at_most(section: str, key: str, limit: float, unit: str) -> Callable[[Results], Outcome]:
    def decide(results: Results) -> Outcome:
        value = _num(results, section, key)
        if value is None:
            return NOT_MEASURED, "-"
        status = HOLDS if value <= limit else DOES_NOT_HOLD
        return status, f"{value:.4g}{unit} (target <= {limit:g}{unit})"

    return decide


def _at_least(section: str, key: str, limit: float, unit: str) -> Callable[[Results], Outcome]:
    def decide(results: Results) -> Outcome:
        value = _num(results, section, key)
        if value is None:
            return NOT_MEASURED, "-"
        status = HOLDS if value >= limit else DOES_NOT_HOLD
        return status, f"{value:.4g}{unit} (target >= {limit:g}{unit})"

    return decide


def _qualitative(reason: str) -> Callable[[Results], Outcome]:
    return lambda results: (NOT_MEASURABLE, reason)


def _token_size(results: Results) -> Outcome:
    section = results.get("sizes")
    largest = _num(results, "sizes", "max_token_bytes")
    if section is None or largest is None:
        return NOT_MEASURED, "-"
    s = section.summary
    grows = bool(s.get("grows_with_permissions"))
    sizes = "/".join(f"{s.get(f'{r}_ES256_permissions_bytes', 0):.0f}" for r in _ROLES)
    roles_only = "/".join(f"{s.get(f'{r}_ES256_roles_bytes', 0):.0f}" for r in _ROLES)
    evidence = (
        f"ES256 admin/user/guest {sizes} B with permissions, {roles_only} B roles only; "
        f"largest {largest:.0f} B (limit 4096 B)"
    )
    if grows and largest <= 4096:
        return HOLDS, evidence

    return (PARTLY if grows or largest <= 4096 else DOES_NOT_HOLD), evidence


def _generation_load(results: Results) -> Outcome:
    ratio = _num(results, "token_endpoint", "generation_peak_over_low_ratio")
    if ratio is None:
        es = _num(results, "generation", "encode_ES256_median_us")
        hint = f"in-process ES256 signing p50 {es:.0f} us; load not run" if es else "-"
        return NOT_MEASURED, hint

    return (HOLDS if ratio <= 1.5 else DOES_NOT_HOLD), f"p50 at peak / at low load {ratio:.2f}x"


def _efficient(results: Results) -> Outcome:
    noauth = _num(results, "http", "jwt_over_noauth_min_ratio")
    central = _num(results, "http", "jwt_over_introspection_min_ratio")
    if noauth is None or central is None:
        decode = _num(results, "validation", "decode_ES256_median_us")
        hint = f"in-process ES256 decode p50 {decode:.0f} us; HTTP not run" if decode else "-"
        return NOT_MEASURED, hint
    evidence = f"jwt/no-auth {noauth:.2f}x, jwt/introspection {central:.2f}x (lowest)"
    passed = (noauth >= 0.9) + (central >= 1.0)

    return {2: HOLDS, 1: PARTLY, 0: DOES_NOT_HOLD}[passed], evidence


def _stateless(results: Results) -> Outcome:
    jwt = _num(results, "availability", "jwt_success_pct")
    session = _num(results, "availability", "session_success_pct")
    if jwt is None or session is None:
        return NOT_MEASURED, "-"
    evidence = f"success, authority down: jwt {jwt:.1f}%; Redis down: session {session:.1f}%"

    return (HOLDS if jwt >= 99.0 and session < jwt else DOES_NOT_HOLD), evidence


def _scaling(results: Results) -> Outcome:
    jwt = _num(results, "scaleout", "jwt_scaleout_ratio")
    session = _num(results, "scaleout", "session_scaleout_ratio")
    if jwt is None or session is None:
        return NOT_MEASURED, "-"
    evidence = f"2 processes / 1: jwt {jwt:.2f}x, session {session:.2f}x"

    return (HOLDS if jwt >= session else DOES_NOT_HOLD), evidence


def _server_load(results: Results) -> Outcome:
    jwt = _num(results, "http", "jwt_backend_cpu_ms_per_request")
    session = _num(results, "http", "session_backend_cpu_ms_per_request")
    if jwt is None or session is None:
        return NOT_MEASURED, "-"
    evidence = f"backend CPU per request: jwt {jwt:.3f} ms, session {session:.3f} ms"

    return (HOLDS if jwt < session else DOES_NOT_HOLD), evidence


_ROLES = ("admin", "user", "guest")
_RATIO_LIMITS = (("ES256", 1.15), ("EdDSA", 1.10), ("RS256", 1.35))

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "study.fig1",
        "Study, Figure 1",
        "Token generation time rises only slightly with load",
        ("token_endpoint",),
        _generation_load,
    ),
    Claim(
        "study.fig2",
        "Study, Figure 2",
        "More permissions make bigger tokens, but the size stays manageable",
        ("sizes",),
        _token_size,
    ),
    Claim(
        "study.h1",
        "Study, H1",
        "JWTs authenticate efficiently, without the overhead of a central server",
        ("http",),
        _efficient,
    ),
    Claim(
        "study.h2",
        "Study, H2",
        "JWT authorization is finer and safer than sessions",
        (),
        _qualitative("a design property: see the security tests, not timings"),
    ),
    Claim(
        "table1.state",
        "Study, Table 1",
        "Stateless: services keep working without the issuer; sessions need their store",
        ("availability",),
        _stateless,
    ),
    Claim(
        "table1.hijack",
        "Study, Table 1",
        "Signed tokens vs session-hijacking exposure",
        (),
        _qualitative("a security property: see the security tests"),
    ),
    Claim(
        "table1.scaling",
        "Study, Table 1",
        "Easy horizontal scaling vs session-store overhead",
        ("scaleout",),
        _scaling,
    ),
    Claim(
        "table1.load",
        "Study, Table 1",
        "Less load on central servers vs dependence on the store and the network",
        ("http",),
        _server_load,
    ),
    Claim(
        "table1.cross",
        "Study, Table 1",
        "Each service verifies on its own (no calls out per request)",
        ("http",),
        _at_most("http", "jwt_backend_calls_per_request", 0.01, " calls/request"),
    ),
    *(
        Claim(
            f"target.ratio.{alg}",
            "Issue target",
            f"{alg} decode + verify <= {limit:.2f}x raw verify",
            ("validation",),
            _at_most("validation", f"decode_over_raw_{alg}_ratio", limit, "x"),
        )
        for alg, limit in _RATIO_LIMITS
    ),
    Claim(
        "target.cache_hit",
        "Issue target",
        "Verified-token cache hit <= 1 us",
        ("validation",),
        _at_most("validation", "cache_hit_median_us", 1.0, " us"),
    ),
    Claim(
        "target.noauth",
        "Issue target",
        "jwt mode >= 0.9x no-auth throughput",
        ("http",),
        _at_least("http", "jwt_over_noauth_min_ratio", 0.9, "x"),
    ),
    Claim(
        "target.session",
        "Issue target",
        "jwt >= session throughput at every concurrency",
        ("http",),
        _at_least("http", "jwt_over_session_min_ratio", 1.0, "x"),
    ),
    Claim(
        "target.client_credentials",
        "Issue target",
        "One authority worker >= 2000 client-credentials tokens/s",
        ("token_endpoint",),
        _at_least("token_endpoint", "client_credentials_per_s", 2000, "/s"),
    ),
    Claim(
        "target.refresh",
        "Issue target",
        "One authority worker >= 1000 refreshes/s",
        ("token_endpoint",),
        _at_least("token_endpoint", "refresh_per_s", 1000, "/s"),
    ),
    Claim(
        "target.login",
        "Issue target",
        "Password login <= 10% beyond the password hash",
        ("token_endpoint",),
        _at_most("token_endpoint", "login_over_hash_ratio", 1.10, "x"),
    ),
)


def evaluate(results: Results) -> list[Verdict]:
    """The verdict on every claim, in :data:`CLAIMS` order."""
    verdicts = []
    for claim in CLAIMS:
        failed = [name for name in claim.sections if _failed(results, name)]
        if failed:
            verdicts.append(Verdict(claim, NOT_MEASURED, f"section {failed[0]} failed"))
            continue
        status, evidence = claim.decide(results)
        verdicts.append(Verdict(claim, status, evidence))

    return verdicts


def _failed(results: Results, name: str) -> bool:
    section = results.get(name)

    return section is not None and bool(section.summary.get("failed"))

"""Section "validation": what decoding a token costs a service, in this process.

Per algorithm, in the same run and interleaved block by block (rotating
start): the bare ``cryptography`` verification of the signature (the floor),
``jwtmesh`` decode (parse + verify + validate) and verify (no claim checks),
and PyJWT and joserfc decoding the same token for reference. Each block runs
one contender back to back and is timed once; medians and p99 are over the
blocks, and the decode/raw ratio is taken within each repeat, then the median.

Also: a cold start (JWKS parsed, Validator built, first decode) against the
steady state, and the guard's verified-token cache hit when the guard exports
``JWTVerifier``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt as pyjwt
import orjson
from joserfc import jwt as joserfc_jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import import_key
from joserfc.jwt import JWTClaimsRegistry

from jwtmesh.jose import Key, KeySet, Validator, encode

from ._context import Context, Section
from ._model import Row, SectionResult
from ._timing import clock, gc_paused, percentile, rotate, settle, stats, time_block, time_calls
from ._tokens import (
    ALGORITHMS,
    AUDIENCE,
    ISSUER,
    KeyPair,
    access_claims,
    load_policy,
    make_keypair,
    raw_verifier,
)

__all__ = ["SECTION", "run_validation"]

RAW = "cryptography.verify"
DECODE = "jwtmesh.decode"
VERIFY = "jwtmesh.verify"
PYJWT = "pyjwt.decode"
JOSERFC = "joserfc.decode"
CONTENDERS = (RAW, DECODE, VERIFY, PYJWT, JOSERFC)
REQUIRED = ("iss", "sub", "aud", "exp", "iat", "jti")
CACHE_ALG = "ES256"
METHOD = (
    "Per algorithm, interleaved in the same run: bare cryptography signature verification "
    "(split and base64 done beforehand: the floor), jwtmesh Validator.decode (parse, verify, "
    "validate iss/aud/exp/nbf/iat/typ), jwtmesh Validator.verify (no claim checks), PyJWT and "
    "joserfc decoding the same token with the same checks, for reference. Each block runs one "
    "contender back to back and is timed once (perf_counter_ns, GC off); medians and p99 are "
    "over blocks; ratios are decode/raw within each repeat, then their median. Cold: JWKS "
    "parsed, Validator built and the first token decoded, each call timed alone. Cache hit: "
    "the guard's JWTVerifier answering a token it has verified before."
)


@dataclass
class _Bench:
    """The contenders for one algorithm, each a zero-argument call."""

    alg: str
    pair: KeyPair
    token: str
    calls: dict[str, Callable[[], object]]
    per_block: dict[str, int] = field(default_factory=dict)


def _pyjwt_call(pair: KeyPair, token: str) -> Callable[[], object]:
    key = pair.secret if pair.secret is not None else pair.raw_public
    options: Any = {"require": list(REQUIRED)}

    return lambda: pyjwt.decode(
        token, key, algorithms=[pair.alg], audience=AUDIENCE[0], issuer=ISSUER, options=options
    )


def _joserfc_call(pair: KeyPair, token: str) -> Callable[[], object]:
    jwk = pair.key.private_jwk() if pair.secret is not None else pair.verify_key.public_jwk()
    key = import_key(jwk)
    registry = JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE[0]},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )

    def call() -> object:
        decoded = joserfc_jwt.decode(token, key, algorithms=[pair.alg])
        registry.validate(decoded.claims)
        return decoded

    return call


def _prepare(alg: str, token_for: Callable[[Key], str]) -> _Bench:
    pair = make_keypair(alg)
    token = token_for(pair.key)
    validator = Validator(KeySet([pair.verify_key]), ISSUER, AUDIENCE[0])
    calls: dict[str, Callable[[], object]] = {
        RAW: raw_verifier(pair, token),
        DECODE: lambda: validator.decode(token),
        VERIFY: lambda: validator.verify(token),
        PYJWT: _pyjwt_call(pair, token),
        JOSERFC: _joserfc_call(pair, token),
    }
    for call in calls.values():
        call()  # every contender accepts the token before anything is timed

    return _Bench(alg, pair, token, calls)


def _calibrate(bench: _Bench, target_ns: float) -> None:
    """Size each contender's block to last about ``target_ns``."""
    for name, call in bench.calls.items():
        one = _median_call_ns(call)
        bench.per_block[name] = max(5, min(20_000, int(target_ns / max(one, 1))))


def _median_call_ns(call: Callable[[], object]) -> float:
    return statistics.median(time_calls(lambda _: call(), 15))


def _measure_blocks(ctx: Context, benches: list[_Bench]) -> dict[str, dict[str, list[float]]]:
    repeats = ctx.pick(40, 80)
    blocks: dict[str, dict[str, list[float]]] = {b.alg: defaultdict(list) for b in benches}
    task = ctx.task("validation: decode vs raw verify", repeats)
    for r in range(repeats):
        with gc_paused():
            for bench in rotate(benches, r):
                for name in rotate(CONTENDERS, r):
                    calls, count = bench.calls[name], bench.per_block[name]
                    blocks[bench.alg][name].append(time_block(calls, count))
        task.advance()

    return blocks


def _block_rows(benches: list[_Bench], blocks: dict[str, dict[str, list[float]]]) -> list[Row]:
    rows = []
    for bench in benches:
        raw = blocks[bench.alg][RAW]
        for name in CONTENDERS:
            values = blocks[bench.alg][name]
            s = stats(values)
            numbers = {
                "median_us": s.median_us,
                "p99_us": s.p99_us,
                "min_us": s.min_us,
                "repeats": float(s.n),
                "calls_per_block": float(bench.per_block[name]),
            }
            if name != RAW:
                numbers["over_raw_ratio"] = statistics.median(
                    v / w for v, w in zip(values, raw, strict=True)
                )
            rows.append(Row({"alg": bench.alg, "impl": name, "phase": "warm"}, numbers))

    return rows


def _cold_rows(ctx: Context, benches: list[_Bench], warm: dict[str, float]) -> list[Row]:
    count = ctx.pick(100, 500)
    parse: dict[str, list[int]] = defaultdict(list)
    total: dict[str, list[int]] = defaultdict(list)
    task = ctx.task("validation: cold start", count)
    sources = {b.alg: _jwks_source(b) for b in benches}
    for i in range(count):
        with gc_paused():
            for bench in rotate(benches, i):
                start = clock()
                keys = sources[bench.alg]()
                parsed = clock()
                Validator(keys, ISSUER, AUDIENCE[0]).decode(bench.token)
                total[bench.alg].append(clock() - start)
                parse[bench.alg].append(parsed - start)
        task.advance()
    rows = []
    for bench in benches:
        s, p = stats(total[bench.alg]), stats(parse[bench.alg])
        numbers = {
            "median_us": s.median_us,
            "p99_us": s.p99_us,
            "jwks_parse_median_us": p.median_us,
            "cold_over_warm_ratio": s.median_us / warm[bench.alg],
            "n": float(s.n),
        }
        rows.append(Row({"alg": bench.alg, "impl": "jwtmesh.cold", "phase": "cold"}, numbers))

    return rows


def _jwks_source(bench: _Bench) -> Callable[[], KeySet]:
    """What a service does on start: parse the JWKS it fetched (or load its shared secret)."""
    if bench.pair.secret is not None:
        secret = bench.pair.secret
        return lambda: KeySet([Key.from_secret(secret)])
    document = orjson.dumps(KeySet([bench.pair.verify_key]).to_jwks())

    return lambda: KeySet.from_jwks(document)


def _load_guard_verifier() -> Any | None:
    try:
        from jwtmesh.guard import JWTVerifier
    except ImportError:
        return None

    return JWTVerifier


async def _async_blocks(
    ctx: Context, calls: dict[str, Callable[[], Any]]
) -> dict[str, list[float]]:
    sizes = {"guard.cache_hit": ctx.pick(2_000, 20_000), "guard.no_cache": ctx.pick(100, 500)}
    repeats = ctx.pick(20, 40)
    out: dict[str, list[float]] = defaultdict(list)
    for r in range(repeats):
        with gc_paused():
            for name in rotate(list(calls), r):
                call, count = calls[name], sizes[name]
                start = clock()
                for _ in range(count):
                    await call()
                out[name].append((clock() - start) / count)

    return out


def _cache_rows(ctx: Context, benches: list[_Bench]) -> tuple[list[Row], list[str]]:
    verifier_class = _load_guard_verifier()
    if verifier_class is None:
        return [], ["Cache hit not measured: jwtmesh.guard does not export JWTVerifier yet."]
    bench = next(b for b in benches if b.alg == CACHE_ALG)

    def verifier(cache_size: int) -> Any:
        keys = KeySet([bench.pair.verify_key])
        return verifier_class(Validator(keys, ISSUER, AUDIENCE[0]), cache_size=cache_size)

    cached, uncached = verifier(1024), verifier(0)
    calls = {
        "guard.cache_hit": lambda: cached.authenticate(bench.token),
        "guard.no_cache": lambda: uncached.authenticate(bench.token),
    }
    ctx.task("validation: guard cache", 1).advance()
    blocks = asyncio.run(_async_blocks(ctx, calls))
    rows = []
    for name, values in blocks.items():
        numbers = {
            "median_us": statistics.median(values) / 1000,
            "p99_us": percentile(values, 99) / 1000,
            "repeats": float(len(values)),
        }
        rows.append(Row({"alg": CACHE_ALG, "impl": name, "phase": "warm"}, numbers))

    return rows, []


def _summary(rows: list[Row]) -> dict[str, str | int | float | bool]:
    summary: dict[str, str | int | float | bool] = {}
    for row in rows:
        alg, impl, phase = row.case["alg"], row.case["impl"], row.case["phase"]
        if impl == DECODE:
            summary[f"decode_{alg}_median_us"] = row.values["median_us"]
            summary[f"decode_over_raw_{alg}_ratio"] = row.values["over_raw_ratio"]
        elif impl == RAW:
            summary[f"raw_{alg}_median_us"] = row.values["median_us"]
        elif phase == "cold":
            summary[f"cold_{alg}_median_us"] = row.values["median_us"]
        elif impl == "guard.cache_hit":
            summary["cache_hit_median_us"] = row.values["median_us"]
        elif impl == "guard.no_cache":
            summary["guard_no_cache_median_us"] = row.values["median_us"]

    return summary


def run_validation(ctx: Context) -> SectionResult:
    """Measure decode cost per algorithm against the raw verify, cold start and cache hit."""
    settle()
    policy = load_policy()
    now = int(time.time())

    def token_for(key: Key) -> str:
        return encode(access_claims("user", "permissions", policy, now), key)

    with warnings.catch_warnings():
        # joserfc flags EdDSA as deprecated by RFC 9864; it is measured here on purpose.
        warnings.simplefilter("ignore", SecurityWarning)
        benches = [_prepare(alg, token_for) for alg in ALGORITHMS]
        for bench in benches:
            _calibrate(bench, ctx.pick(3_000_000, 8_000_000))
        rows = _block_rows(benches, _measure_blocks(ctx, benches))
    warm = {r.case["alg"]: r.values["median_us"] for r in rows if r.case["impl"] == DECODE}
    rows += _cold_rows(ctx, benches, {str(k): v for k, v in warm.items()})
    cache_rows, notes = _cache_rows(ctx, benches)
    rows += cache_rows

    return SectionResult(
        name="validation",
        title="Validation cost (in-process)",
        method=METHOD,
        rows=rows,
        summary=_summary(rows),
        notes=notes,
    )


SECTION = Section("validation", "Validation cost (in-process)", run_validation)

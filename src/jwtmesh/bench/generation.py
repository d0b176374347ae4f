"""Section "generation": in-process signing time per algorithm.

Each round signs a block of fresh access-token claims with every algorithm
(rotating which goes first) through :func:`jwtmesh.jose.encode`, and signs
the same bytes with bare ``cryptography`` as the floor; every call is timed
on its own with ``perf_counter_ns``, garbage collection off.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import Any

from jwtmesh.jose import encode

from ._context import Context, Section
from ._model import Row, SectionResult
from ._timing import gc_paused, rotate, settle, stats, time_calls
from ._tokens import ALGORITHMS, KeyPair, access_claims, load_policy, make_keypair, raw_signer

__all__ = ["SECTION", "run_generation"]

ENCODE = "jwtmesh.encode"
RAW = "cryptography.sign"
METHOD = (
    "Signing time of one access token (role user, permissions style) per algorithm, "
    "in this process: jwtmesh.jose.encode (header + claims serialised, base64url, signed) "
    "beside the bare cryptography signature of the same bytes. Rounds of blocks, algorithms "
    "interleaved with a rotating start, every call timed with perf_counter_ns, GC off."
)


def _round(pair: KeyPair, claims: list[dict[str, Any]], out: dict[str, list[int]]) -> None:
    key = pair.key
    sign = raw_signer(pair)
    signing_input = encode(claims[0], key).rpartition(".")[0].encode("ascii")
    out[ENCODE] += time_calls(lambda i: encode(claims[i], key), len(claims))
    out[RAW] += time_calls(lambda i: sign(signing_input), len(claims))


def _rows(samples: dict[str, dict[str, list[int]]]) -> list[Row]:
    rows = []
    for alg, by_impl in samples.items():
        for impl, values in by_impl.items():
            s = stats(values)
            rows.append(
                Row(
                    {"alg": alg, "impl": impl},
                    {
                        "median_us": s.median_us,
                        "p99_us": s.p99_us,
                        "mean_us": s.mean_us,
                        "min_us": s.min_us,
                        "n": float(s.n),
                        "tokens_per_s": 1e6 / s.median_us,
                    },
                )
            )

    return rows


def _summary(rows: list[Row]) -> dict[str, str | int | float | bool]:
    median = {(r.case["alg"], r.case["impl"]): r.values["median_us"] for r in rows}
    summary: dict[str, str | int | float | bool] = {}
    for alg in ALGORITHMS:
        summary[f"encode_{alg}_median_us"] = median[(alg, ENCODE)]
        summary[f"encode_{alg}_over_raw_ratio"] = median[(alg, ENCODE)] / median[(alg, RAW)]

    return summary


def run_generation(ctx: Context) -> SectionResult:
    """Measure in-process signing time per algorithm."""
    policy = load_policy()
    pairs = {alg: make_keypair(alg) for alg in ALGORITHMS}
    per_alg, block = ctx.pick(1000, 5000), ctx.pick(25, 50)
    rounds = math.ceil(per_alg / block)
    settle()
    samples: dict[str, dict[str, list[int]]] = {a: defaultdict(list) for a in ALGORITHMS}
    task = ctx.task("generation: signing", rounds)
    for r in range(rounds):
        now = int(time.time())
        with gc_paused():
            for alg in rotate(ALGORITHMS, r):
                claims = [access_claims("user", "permissions", policy, now) for _ in range(block)]
                _round(pairs[alg], claims, samples[alg])
        task.advance()
    rows = _rows(samples)

    return SectionResult(
        name="generation",
        title="Token generation (in-process signing)",
        method=METHOD,
        rows=rows,
        summary=_summary(rows),
        notes=[f"{per_alg} tokens per algorithm in blocks of {block}; policy: {policy.source}."],
    )


SECTION = Section("generation", "Token generation (in-process signing)", run_generation)

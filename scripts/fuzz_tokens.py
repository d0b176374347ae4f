"""Fuzz jwtmesh.jose for a fixed time and report how many inputs it tried.

Two engines take turns until the time is up:

* hypothesis, with generation only (no shrinking, no example database), over
  random bytes and text, token-shaped segments, mutated valid tokens, signed
  arbitrary headers, payloads and claims, JWK and JWKS documents;
* a byte-level mutator (``random``) over valid tokens of every algorithm,
  which tries far more inputs per second.

Invariants checked on every input: decoding raises nothing but
``InvalidTokenError``; a mutated token is accepted only if its signed bytes are
unchanged; accepted claims hold the validator's guarantees; key loading raises
nothing but ``JWKError``.

    .venv/bin/python scripts/fuzz_tokens.py --seconds 180
"""

from __future__ import annotations

import argparse
import base64
import logging
import random
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from jwtmesh.jose import InvalidTokenError, JWKError, Key, KeySet, Validator, encode

NOW = 1_800_000_000
ISSUER = "https://auth.example"
AUDIENCE = "orders"
CLAIMS: dict[str, Any] = {
    "iss": ISSUER,
    "sub": "ada",
    "aud": AUDIENCE,
    "exp": NOW + 300,
    "iat": NOW,
    "nbf": NOW,
    "jti": "jti-1",
}
KEYS = {
    "ES256": Key.generate("ES256"),
    "EdDSA": Key.generate("EdDSA"),
    "RS256": Key.generate("RS256"),
    "HS256": Key.from_secret(bytes(range(32))),
}
VALIDATORS = {
    alg: Validator(KeySet([key if alg == "HS256" else key.public()]), ISSUER, AUDIENCE)
    for alg, key in KEYS.items()
}
TOKENS = {alg: encode(CLAIMS, key) for alg, key in KEYS.items()}
BYTES_POOL = b'AZaz09-_.=+/ \x00\xff\xc3\xa9{}[]",:'
REGISTERED = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "client_id", "sid"]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


class Failure(Exception):
    """An invariant did not hold."""


class Tally:
    """Counts inputs and keeps the first few failures."""

    def __init__(self) -> None:
        self.inputs = {"hypothesis": 0, "mutation": 0}
        self.failures: list[str] = []

    def fail(self, what: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(what)


TALLY = Tally()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(alg: str, token: str | bytes) -> dict[str, Any] | None:
    """Claims if accepted, None if refused with InvalidTokenError; anything else fails."""
    try:
        claims = VALIDATORS[alg].decode(token, now=NOW)
    except InvalidTokenError:
        return None
    except Exception as exc:
        raise Failure(f"{alg}: {type(exc).__name__}: {exc} for {token[:200]!r}") from exc
    check_claims(claims)
    return claims


def check_claims(claims: dict[str, Any]) -> None:
    aud: Any = claims.get("aud")
    if claims.get("iss") != ISSUER or not (aud == AUDIENCE or AUDIENCE in aud):
        raise Failure(f"accepted claims of another issuer or audience: {claims!r:.200}")
    exp = claims.get("exp")
    if type(exp) is not int or exp + 30 <= NOW:
        raise Failure(f"accepted an expired or untyped exp: {claims!r:.200}")


def check_mutation(alg: str, mutated: str | bytes) -> None:
    accepted = decode(alg, mutated)
    original = TOKENS[alg]
    text = mutated.decode("latin-1") if isinstance(mutated, bytes) else mutated
    if accepted is not None and text.split(".")[:2] != original.split(".")[:2]:
        raise Failure(f"{alg}: accepted a token whose signed bytes changed: {text[:200]!r}")


def check_key_loading(load: Callable[[], object]) -> None:
    try:
        load()
    except JWKError:
        return
    except Exception as exc:
        raise Failure(f"key loading raised {type(exc).__name__}: {exc}") from exc


# ------------------------------------------------------------------ hypothesis targets
@st.composite
def mutated_tokens(draw: st.DrawFn) -> tuple[str, str]:
    alg = draw(st.sampled_from(sorted(KEYS)))
    token = TOKENS[alg]
    segments = token.split(".")
    kind = draw(st.sampled_from(["edit", "segments", "header"]))
    if kind == "edit":
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(token) - 1))
            char = chr(draw(st.sampled_from(BYTES_POOL)))
            op = draw(st.sampled_from(["replace", "delete", "insert"]))
            new = {"replace": char, "delete": "", "insert": char + token[at]}[op]
            token = token[:at] + new + token[at + 1 :]
        return alg, token
    if kind == "segments":
        picked = draw(st.lists(st.integers(0, 2), max_size=6))
        return alg, ".".join(segments[i] for i in picked)
    header = orjson.loads(base64.urlsafe_b64decode(segments[0] + "=="))
    names = st.sampled_from(["alg", "kid", "typ", "jku", "jwk", "crit", "b64", "x"])
    header.update(draw(st.dictionaries(names, json_values, min_size=1)))
    return alg, ".".join([b64(orjson.dumps(header)), *segments[1:]])


def hypothesis_round(examples: int, seed: int) -> None:
    """One pass of every hypothesis target with ``examples`` inputs each."""
    config = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )

    @config
    @given(st.binary(max_size=600) | st.text(max_size=600))
    def raw(data: bytes | str) -> None:
        TALLY.inputs["hypothesis"] += 1
        decode("ES256", data)

    @config
    @given(st.lists(st.binary(max_size=200), min_size=1, max_size=6))
    def segments(parts: list[bytes]) -> None:
        TALLY.inputs["hypothesis"] += 1
        decode("HS256", ".".join(b64(part) for part in parts))

    @config
    @given(mutated_tokens())
    def mutations(case: tuple[str, str]) -> None:
        TALLY.inputs["hypothesis"] += 1
        check_mutation(*case)

    @config
    @given(st.binary(max_size=400), st.binary(max_size=400))
    def signed_bytes(header: bytes, payload: bytes) -> None:
        TALLY.inputs["hypothesis"] += 1
        head = f"{b64(header)}.{b64(payload)}"
        decode("HS256", f"{head}.{b64(KEYS['HS256'].sign(head.encode()))}")

    @config
    @given(
        st.dictionaries(st.text(max_size=10), json_values, max_size=6),
        st.dictionaries(
            st.sampled_from(REGISTERED), json_values | st.integers(NOW - 100, NOW + 100)
        ),
    )
    def signed_claims(extra: dict[str, Any], registered: dict[str, Any]) -> None:
        TALLY.inputs["hypothesis"] += 1
        decode("HS256", encode({**CLAIMS, **extra, **registered}, KEYS["HS256"]))

    keyish = ["kty", "crv", "x", "y", "n", "e", "k", "alg", "use", "kid", "d", "keys"]

    @config
    @given(st.dictionaries(st.sampled_from(keyish), json_values) | json_values)
    def keys(document: Any) -> None:
        TALLY.inputs["hypothesis"] += 1
        check_key_loading(lambda: KeySet.from_jwks(document))
        check_key_loading(lambda: KeySet.from_jwks({"keys": [document]}))
        check_key_loading(lambda: Key.from_jwk(document))

    @config
    @given(st.binary(min_size=32, max_size=200))
    def secrets(secret: bytes) -> None:
        TALLY.inputs["hypothesis"] += 1
        check_key_loading(lambda: Key.from_secret(secret))

    for number, target in enumerate(
        (raw, segments, mutations, signed_bytes, signed_claims, keys, secrets)
    ):
        try:
            hypothesis_seed(seed * 8 + number)(target)()
        except Failure as exc:
            TALLY.fail(str(exc))
        except Exception as exc:
            TALLY.fail(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")


# ------------------------------------------------------------------ byte mutator
def mutation_round(rng: random.Random, count: int) -> None:
    """``count`` random byte-level mutations of valid tokens."""
    algs = sorted(KEYS)
    for _ in range(count):
        alg = rng.choice(algs)
        token = bytearray(TOKENS[alg].encode())
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(token))
            op = rng.randrange(4)
            if op == 0:
                token[at] = rng.choice(BYTES_POOL)
            elif op == 1:
                del token[at]
            elif op == 2:
                token.insert(at, rng.choice(BYTES_POOL))
            else:
                token[at] ^= 1 << rng.randrange(8)
        TALLY.inputs["mutation"] += 1
        try:
            check_mutation(alg, bytes(token))
        except Failure as exc:
            TALLY.fail(str(exc))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    # Skipped JWKS entries are expected by the thousand here.
    logging.getLogger("jwtmesh.jose.jwks").setLevel(logging.ERROR)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)  # noqa: S311 - reproducible fuzzing, not cryptography
    started = time.monotonic()
    rounds = 0
    while time.monotonic() - started < args.seconds:
        hypothesis_round(examples=200, seed=seed + rounds)
        mutation_round(rng, 5000)
        rounds += 1
    elapsed = time.monotonic() - started
    total = sum(TALLY.inputs.values())
    for failure in TALLY.failures:
        print("FAILURE:", failure)
    print(
        f"fuzz_tokens: {total} inputs in {elapsed:.0f} s (hypothesis {TALLY.inputs['hypothesis']}, "
        f"mutation {TALLY.inputs['mutation']}), seed {seed}, {len(TALLY.failures)} failures"
    )
    return 1 if TALLY.failures else 0


if __name__ == "__main__":
    sys.exit(main())

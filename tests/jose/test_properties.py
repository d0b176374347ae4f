"""Properties: any input only ever raises InvalidTokenError; a mutated token is never accepted."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtmesh.jose import (
    InvalidTokenError,
    JWKError,
    Key,
    KeySet,
    Validator,
    encode,
)

from ._support import AUDIENCE, ISSUER, NOW, claims, make_key, verifying_key

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = {alg: make_key(alg) for alg in ("ES256", "EdDSA", "HS256")}
VALIDATORS = {
    alg: Validator(KeySet([verifying_key(key)]), ISSUER, AUDIENCE) for alg, key in KEYS.items()
}
TOKENS = {alg: encode(claims(), key) for alg, key in KEYS.items()}
TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x00é"

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def b64(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def outcome(alg: str, token: str | bytes) -> dict[str, Any] | None:
    """The claims if the token is accepted, None if it is refused with InvalidTokenError."""
    try:
        return VALIDATORS[alg].decode(token, now=NOW)
    except InvalidTokenError:
        return None


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, str]:
    """A valid token of some algorithm, and a mutation of it."""
    alg = draw(st.sampled_from(sorted(KEYS)))
    token = TOKENS[alg]
    segments = token.split(".")
    kind = draw(st.sampled_from(["replace", "delete", "insert", "segments", "header"]))
    if kind in ("replace", "delete", "insert"):
        at = draw(st.integers(0, len(token) - 1))
        char = draw(st.sampled_from(TOKEN_CHARS))
        keep = 1 if kind == "replace" else 0
        new = {"replace": char, "delete": "", "insert": char + token[at]}[kind]
        return alg, token[:at] + new + token[at + keep :]
    if kind == "segments":
        picked = draw(st.lists(st.integers(0, 2), max_size=5))
        return alg, ".".join(segments[i] for i in picked)
    header = orjson.loads(base64.urlsafe_b64decode(segments[0] + "=="))
    header.update(
        draw(
            st.dictionaries(
                st.sampled_from(["alg", "kid", "typ", "x", "crit"]), json_values, min_size=1
            )
        )
    )
    return alg, ".".join([b64(orjson.dumps(header)), *segments[1:]])


@FAST
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_invalid_token_error(data: bytes) -> None:
    assert outcome("ES256", data) is None


@FAST
@given(st.text(max_size=400))
def test_random_text_only_raises_invalid_token_error(text: str) -> None:
    assert outcome("EdDSA", text) is None


@FAST
@given(st.lists(st.binary(max_size=120), min_size=1, max_size=5))
def test_token_shaped_random_segments_are_refused(parts: list[bytes]) -> None:
    token = ".".join(b64(part) for part in parts)

    assert outcome("HS256", token) is None


@FAST
@given(mutations())
def test_a_mutated_token_is_never_accepted_unless_the_signed_bytes_are_unchanged(
    case: tuple[str, str],
) -> None:
    alg, mutated = case
    original = TOKENS[alg]

    accepted = outcome(alg, mutated)

    if accepted is not None:
        assert mutated.split(".")[:2] == original.split(".")[:2]
        assert accepted == claims()


REGISTERED = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "client_id", "sid"]


@FAST
@given(
    st.dictionaries(st.text(max_size=12), json_values, max_size=8),
    st.dictionaries(st.sampled_from(REGISTERED), json_values | st.integers(NOW - 100, NOW + 100)),
)
def test_signed_arbitrary_claims_are_validated_or_refused(
    extra: dict[str, Any], registered: dict[str, Any]
) -> None:
    body = {**claims(), **extra, **registered}
    accepted = outcome("HS256", encode(body, KEYS["HS256"]))

    if accepted is not None:
        assert accepted["iss"] == ISSUER
        assert accepted["aud"] == AUDIENCE or AUDIENCE in accepted["aud"]
        assert type(accepted["exp"]) is int
        assert accepted["exp"] + 30 > NOW


@FAST
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_signed_arbitrary_header_and_payload_bytes_only_raise_invalid_token_error(
    header: bytes, payload: bytes
) -> None:
    key = KEYS["HS256"]
    head = f"{b64(header)}.{b64(payload)}"

    assert outcome("HS256", f"{head}.{b64(key.sign(head.encode()))}") is None


@FAST
@given(json_values)
def test_any_json_document_loads_as_a_key_set_or_raises_jwk_error(document: Any) -> None:
    try:
        keys = KeySet.from_jwks({"keys": [document]} if isinstance(document, dict) else document)
    except JWKError:
        return
    assert len(keys) == 0


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["kty", "crv", "x", "y", "n", "e", "k", "alg", "use", "kid", "d"]),
        json_values,
    )
)
def test_any_jwk_loads_or_raises_jwk_error(jwk: dict[str, Any]) -> None:
    try:
        key = Key.from_jwk(jwk)
    except JWKError:
        return
    assert key.kid

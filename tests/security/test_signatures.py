"""Signature edge cases: ECDSA psychic signatures and high-S, Ed25519 malleability, size limit."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import jwtmesh.jose.jwt as jwt_module
from jwtmesh.jose import (
    InvalidSignatureError,
    Key,
    MalformedTokenError,
    TokenTooLargeError,
    UnsupportedAlgorithmError,
    Validator,
    encode,
)

from ._support import (
    NOW,
    P256_ORDER,
    claims,
    header_for,
    rejected,
    signed,
    unb64,
    validator,
    with_signature,
)

ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493


def _r_s(token: str) -> tuple[int, int]:
    raw = unb64(token.rsplit(".", 1)[1])
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")


def _raw(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


PSYCHIC: dict[str, Callable[[int, int], tuple[int, int]]] = {
    "r=0,s=0": lambda r, s: (0, 0),
    "r=0": lambda r, s: (0, s),
    "s=0": lambda r, s: (r, 0),
    "r=n": lambda r, s: (P256_ORDER, s),
    "s=n": lambda r, s: (r, P256_ORDER),
    "r=s=n": lambda r, s: (P256_ORDER, P256_ORDER),
    "r=n+r": lambda r, s: (P256_ORDER + r, s) if P256_ORDER + r < 2**256 else (P256_ORDER + 1, s),
    "s=n+1": lambda r, s: (r, P256_ORDER + 1),
    "r=max": lambda r, s: (2**256 - 1, s),
    "s=max": lambda r, s: (r, 2**256 - 1),
}


@pytest.mark.parametrize("case", sorted(PSYCHIC))
def test_cve_2022_21449_psychic_ecdsa_signatures_are_refused(es256: Key, case: str) -> None:
    """Java accepted r = s = 0 as a valid ECDSA signature for any message (CVE-2022-21449)."""
    token = encode(claims(), es256)
    r, s = PSYCHIC[case](*_r_s(token))

    rejected(
        validator(es256), with_signature(token, _raw(r, s)), InvalidSignatureError, "bad_signature"
    )


@pytest.mark.parametrize("case", sorted(PSYCHIC))
def test_psychic_signatures_on_a_forged_payload_are_refused(es256: Key, case: str) -> None:
    forged = signed(es256, header_for(es256), claims(sub="admin"))
    r, s = PSYCHIC[case](*_r_s(forged))
    token = with_signature(forged, _raw(r, s))

    rejected(validator(es256), token, InvalidSignatureError, "bad_signature")


def test_der_encoded_ecdsa_signature_is_refused(es256: Key) -> None:
    token = encode(claims(), es256)
    der = encode_dss_signature(*_r_s(token))

    rejected(validator(es256), with_signature(token, der), InvalidSignatureError, "bad_signature")


def test_high_s_ecdsa_variant_is_accepted_and_keeps_the_same_jti_so_revocation_covers_it(
    es256: Key,
) -> None:
    """Decision: standard ECDSA (and RFC 7518) accept both (r, s) and (r, n - s).

    Anyone holding a token can make its high-S twin, but only with the same
    header and claims: the twin decodes to the same ``jti``, so revoking the
    ``jti`` revokes both, and nothing keys on the signature bytes.
    """
    token = encode(claims(jti="revocable-1"), es256)
    r, s = _r_s(token)
    twin = with_signature(token, _raw(r, P256_ORDER - s))
    assert twin != token

    original = validator(es256).decode(token, now=NOW)
    accepted = validator(es256).decode(twin, now=NOW)

    assert accepted == original
    assert accepted["jti"] == "revocable-1"


def test_ed25519_malleated_signature_s_plus_l_is_refused(issuer_keys: dict[str, Key]) -> None:
    key = issuer_keys["EdDSA"]
    token = encode(claims(), key)
    signature = unb64(token.rsplit(".", 1)[1])
    s = int.from_bytes(signature[32:], "little") + ED25519_ORDER
    malleated = signature[:32] + s.to_bytes(32, "little")

    rejected(
        validator(key), with_signature(token, malleated), InvalidSignatureError, "bad_signature"
    )


def test_rsa_signature_with_a_leading_zero_byte_is_refused(issuer_keys: dict[str, Key]) -> None:
    key = issuer_keys["RS256"]
    token = encode(claims(), key)
    signature = unb64(token.rsplit(".", 1)[1])

    rejected(
        validator(key),
        with_signature(token, b"\x00" + signature),
        InvalidSignatureError,
        "bad_signature",
    )


def test_es384_token_for_an_es256_key_is_refused(es256: Key) -> None:
    token = signed(Key.generate("ES384"), header_for(es256, alg="ES384"), claims())

    rejected(validator(es256), token, UnsupportedAlgorithmError, "unsupported_alg")


# ------------------------------------------------------------------ size limit
def test_a_token_one_byte_over_the_limit_is_too_large(es256: Key) -> None:
    token = "a" * 8193

    rejected(validator(es256), token, TokenTooLargeError, "too_large")
    rejected(validator(es256), token.encode(), TokenTooLargeError, "too_large")


def test_a_valid_token_of_exactly_the_limit_is_accepted(es256: Key) -> None:
    start = (8192 - len(encode(claims(filler=""), es256))) * 3 // 4 - 4
    for pad in range(start, start + 8):
        token = encode(claims(filler="f" * pad), es256)
        if len(token) == 8192:
            break
    assert len(token) == 8192

    assert validator(es256).decode(token, now=NOW)["filler"].startswith("f")


def test_max_size_is_configurable(es256: Key) -> None:
    token = encode(claims(), es256)

    rejected(validator(es256, max_size=len(token) - 1), token, TokenTooLargeError, "too_large")


@pytest.mark.parametrize("form", ["str", "bytes", "non-ascii"])
def test_ten_megabytes_is_refused_before_any_decoding(
    es256: Key, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    def must_not_run(*args: object) -> None:
        raise AssertionError("decoding started on an oversized token")

    monkeypatch.setattr(jwt_module, "b64url_decode", must_not_run)
    monkeypatch.setattr(jwt_module, "load_object", must_not_run)
    huge_text = ("eyJh." * 2_000_000) + "é" * (form == "non-ascii")
    huge: str | bytes = huge_text.encode() if form == "bytes" else huge_text
    check: Validator = validator(es256)

    started = time.perf_counter()
    for _ in range(100):
        rejected(check, huge, TokenTooLargeError, "too_large")
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5


def test_a_large_but_allowed_token_of_junk_is_malformed_not_an_exception(es256: Key) -> None:
    rejected(validator(es256), "." * 8000, MalformedTokenError, "malformed")

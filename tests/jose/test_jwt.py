"""Encode and decode: RFC 7515 example vectors, frozen-time leeway, validator options."""

from __future__ import annotations

from typing import Any

import pytest

from jwtmesh.jose import (
    ExpiredTokenError,
    ImmatureTokenError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidTokenError,
    InvalidTypeError,
    Key,
    KeySet,
    MissingClaimError,
    UnsupportedAlgorithmError,
    Validator,
    decode,
    encode,
)

from ._support import AUDIENCE, ISSUER, NOW, claims, make_key, validator_for, verifying_key

RFC_PAYLOAD: dict[str, Any] = {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
RFC_PAYLOAD64 = (
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
)
RFC_OPTIONS: dict[str, Any] = {
    "issuer": "joe",
    "audience": None,
    "typ": None,
    "required": (),
    "now": 1300819380 - 60,
}

# RFC 7515 appendix A.1: HMAC SHA-256.
A1_KEY = {
    "kty": "oct",
    "k": ("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"),
}
A1_TOKEN = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    + RFC_PAYLOAD64
    + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

# RFC 7515 appendix A.2: RSASSA-PKCS1-v1_5 SHA-256 (public members of the example key).
A2_KEY = {
    "kty": "RSA",
    "n": (
        "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4Q"
        "lL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbB"
        "YUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DW"
        "NmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
    ),
    "e": "AQAB",
}
A2_TOKEN = (
    "eyJhbGciOiJSUzI1NiJ9."
    + RFC_PAYLOAD64
    + ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
    "p0igcN_IoypGlUPQGe77Rw"
)

# RFC 7515 appendix A.3: ECDSA P-256 SHA-256.
A3_KEY = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
}
A3_TOKEN = (
    "eyJhbGciOiJFUzI1NiJ9."
    + RFC_PAYLOAD64
    + ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
)


def _rejects(validator: Validator, token: str, error: type[InvalidTokenError], now: int) -> str:
    with pytest.raises(InvalidTokenError) as caught:
        validator.decode(token, now=now)
    assert type(caught.value) is error
    return caught.value.code


# ---------------------------------------------------------------- RFC 7515 vectors
def test_rfc7515_a3_es256_example_verifies_with_the_published_key() -> None:
    public = Key.from_jwk({k: v for k, v in A3_KEY.items() if k != "d"})

    assert public.alg == "ES256"
    assert decode(A3_TOKEN, public, **RFC_OPTIONS) == RFC_PAYLOAD


def test_rfc7515_a3_private_key_matches_the_published_public_key() -> None:
    private = Key.from_jwk(A3_KEY)
    token = encode(RFC_PAYLOAD, private, typ="JWT")

    assert decode(token, private.public(), **RFC_OPTIONS) == RFC_PAYLOAD
    assert private.public_jwk()["x"] == A3_KEY["x"]


def test_rfc7515_a2_rs256_example_verifies_with_the_published_key() -> None:
    assert decode(A2_TOKEN, Key.from_jwk(A2_KEY, alg="RS256"), **RFC_OPTIONS) == RFC_PAYLOAD


def test_rfc7515_a1_hs256_example_verifies_with_the_published_key() -> None:
    assert decode(A1_TOKEN, Key.from_jwk(A1_KEY, alg="HS256"), **RFC_OPTIONS) == RFC_PAYLOAD


def test_rfc7515_a3_example_is_rejected_once_expired() -> None:
    options = {**RFC_OPTIONS, "now": RFC_PAYLOAD["exp"] + 30}
    with pytest.raises(ExpiredTokenError):
        decode(A3_TOKEN, Key.from_jwk({**A3_KEY}).public(), **options)


# ---------------------------------------------------------------- frozen time
@pytest.mark.parametrize(
    ("now", "accepted"),
    [
        (NOW + 300 + 29, True),
        (NOW + 300 + 29.999, True),
        (NOW + 300 + 30, False),
        (NOW + 300 + 31, False),
    ],
)
def test_exp_just_inside_and_just_outside_the_leeway(key: Key, now: float, accepted: bool) -> None:
    token = encode(claims(), key)
    validator = validator_for(key, leeway=30)

    if accepted:
        assert validator.decode(token, now=now)["jti"] == "jti-1"
    else:
        with pytest.raises(ExpiredTokenError) as caught:
            validator.decode(token, now=now)
        assert (caught.value.code, caught.value.claim) == ("expired", "exp")


@pytest.mark.parametrize(
    ("now", "accepted"),
    [(NOW - 30, True), (NOW - 29.5, True), (NOW - 30.001, False), (NOW - 31, False)],
)
def test_nbf_just_inside_and_just_outside_the_leeway(key: Key, now: float, accepted: bool) -> None:
    token = encode(claims(iat=NOW - 100), key)
    validator = validator_for(key, leeway=30)

    if accepted:
        assert validator.decode(token, now=now)["nbf"] == NOW
    else:
        with pytest.raises(ImmatureTokenError) as caught:
            validator.decode(token, now=now)
        assert (caught.value.code, caught.value.claim) == ("not_yet_valid", "nbf")


@pytest.mark.parametrize(("iat", "accepted"), [(NOW + 30, True), (NOW + 31, False)])
def test_iat_just_inside_and_just_outside_the_leeway(key: Key, iat: int, accepted: bool) -> None:
    token = encode(claims(iat=iat, nbf=None), key)
    validator = validator_for(key, leeway=30)

    if accepted:
        assert validator.decode(token, now=NOW)["iat"] == iat
    else:
        with pytest.raises(ImmatureTokenError) as caught:
            validator.decode(token, now=NOW)
        assert (caught.value.code, caught.value.claim) == ("not_yet_valid", "iat")


def test_zero_leeway_expires_at_exp(keys_by_alg: dict[str, Key]) -> None:
    key = keys_by_alg["ES256"]
    token = encode(claims(), key)
    validator = validator_for(key, leeway=0)

    assert validator.decode(token, now=NOW + 299)["sub"] == "ada"
    assert _rejects(validator, token, ExpiredTokenError, NOW + 300) == "expired"


def test_decode_without_now_uses_the_clock(keys_by_alg: dict[str, Key]) -> None:
    key = keys_by_alg["ES256"]
    token = encode(claims(exp=1_000_000_300, iat=1_000_000_000, nbf=1_000_000_000), key)

    with pytest.raises(ExpiredTokenError):
        validator_for(key).decode(token)


# ---------------------------------------------------------------- claims and options
@pytest.mark.parametrize("name", ["exp", "nbf", "iat", "sub", "jti", "iss", "scope"])
def test_a_registered_claim_that_is_null_is_invalid(key: Key, name: str) -> None:
    """Regression: ``"exp": null`` passed ``required`` and then never expired."""
    token = encode({**claims(), name: None}, key)

    with pytest.raises(InvalidClaimError) as caught:
        validator_for(key).decode(token, now=NOW)
    assert (caught.value.code, caught.value.claim) == ("invalid_claim", name)


def test_a_null_exp_never_means_a_token_without_expiry(keys_by_alg: dict[str, Key]) -> None:
    key = keys_by_alg["ES256"]
    token = encode({**claims(), "exp": None}, key)

    with pytest.raises(InvalidClaimError):
        validator_for(key, required=()).decode(token, now=NOW + 10**8)


def test_missing_aud_with_an_expected_audience_is_missing_claim(
    keys_by_alg: dict[str, Key],
) -> None:
    """Regression: it was reported as invalid_claim."""
    key = keys_by_alg["ES256"]
    token = encode(claims(aud=None), key)

    with pytest.raises(MissingClaimError) as caught:
        validator_for(key, required=()).decode(token, now=NOW)
    assert (caught.value.code, caught.value.claim) == ("missing_claim", "aud")


def test_aud_may_be_a_list_that_names_us(keys_by_alg: dict[str, Key]) -> None:
    key = keys_by_alg["EdDSA"]
    token = encode(claims(aud=["billing", AUDIENCE]), key)

    assert validator_for(key).decode(token, now=NOW)["aud"] == ["billing", AUDIENCE]


def test_no_expected_audience_skips_the_aud_check(keys_by_alg: dict[str, Key]) -> None:
    key = keys_by_alg["EdDSA"]
    token = encode(claims(aud="someone-else"), key)
    validator = Validator(KeySet([key.public()]), ISSUER, None)

    assert validator.decode(token, now=NOW)["aud"] == "someone-else"


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
def test_typ_matches_case_insensitively_with_or_without_application(
    keys_by_alg: dict[str, Key], typ: str
) -> None:
    key = keys_by_alg["ES256"]

    assert validator_for(key).decode(encode(claims(), key, typ=typ), now=NOW)["sub"] == "ada"


def test_typ_none_accepts_any_type(keys_by_alg: dict[str, Key]) -> None:
    key = keys_by_alg["ES256"]
    token = encode(claims(), key, typ="JWT")

    assert validator_for(key, typ=None).decode(token, now=NOW)["sub"] == "ada"
    assert _rejects(validator_for(key), token, InvalidTypeError, NOW) == "wrong_typ"


def test_changing_typ_after_a_decode_takes_effect(keys_by_alg: dict[str, Key]) -> None:
    """Regression: checked headers were cached across a change of ``typ``."""
    key = keys_by_alg["ES256"]
    token = encode(claims(), key, typ="JWT")
    validator = validator_for(key, typ=None)
    validator.decode(token, now=NOW)

    validator.typ = "at+jwt"

    assert _rejects(validator, token, InvalidTypeError, NOW) == "wrong_typ"


def test_narrowing_algorithms_after_a_decode_takes_effect(keys_by_alg: dict[str, Key]) -> None:
    """Regression: checked headers were cached across a change of ``algorithms``."""
    key = keys_by_alg["ES256"]
    token = encode(claims(), key)
    validator = validator_for(key)
    validator.decode(token, now=NOW)

    validator.algorithms = ["EdDSA"]

    assert _rejects(validator, token, UnsupportedAlgorithmError, NOW) == "unsupported_alg"


def test_algorithms_may_never_include_none(keys_by_alg: dict[str, Key]) -> None:
    for spelling in ("none", "None", "NONE"):
        with pytest.raises(ValueError, match="none"):
            validator_for(keys_by_alg["ES256"], algorithms=["ES256", spelling])


def test_validator_needs_an_issuer() -> None:
    with pytest.raises(ValueError, match="issuer"):
        Validator(KeySet(), "", AUDIENCE)


def test_encode_refuses_a_header_that_relabels_the_algorithm(
    keys_by_alg: dict[str, Key],
) -> None:
    key = keys_by_alg["ES256"]

    with pytest.raises(ValueError, match="alg"):
        encode(claims(), key, headers={"alg": "none"})
    assert encode(claims(), key, headers={"alg": "ES256", "x": 1}).count(".") == 2


def test_a_refreshed_key_set_is_used_for_the_next_token(keys_by_alg: dict[str, Key]) -> None:
    old, new = keys_by_alg["ES256"], make_key("ES256")
    validator = validator_for(old)
    validator.decode(encode(claims(), old), now=NOW)

    validator.keys = KeySet([verifying_key(new)])

    assert validator.decode(encode(claims(), new), now=NOW)["sub"] == "ada"


def test_verify_checks_the_signature_but_not_the_claims(keys_by_alg: dict[str, Key]) -> None:
    key = keys_by_alg["EdDSA"]
    token = encode(claims(exp=1), key)

    assert validator_for(key).verify(token)["exp"] == 1


def test_one_shot_decode_takes_a_key_set_too(keys_by_alg: dict[str, Key]) -> None:
    key = keys_by_alg["PS256"]
    token = encode(claims(), key)
    keys = KeySet([key.public()])

    assert decode(token, keys, issuer=ISSUER, audience=AUDIENCE, now=NOW)["sub"] == "ada"


def test_error_text_never_contains_the_token(key: Key) -> None:
    token = encode(claims(aud="elsewhere"), key)

    with pytest.raises(InvalidAudienceError) as caught:
        validator_for(key).decode(token, now=NOW)
    assert token not in str(caught.value)
    assert caught.value.description.startswith("wrong_audience: ")


def test_rfc_9864_ed25519_name_is_accepted_and_pinned_to_its_key() -> None:
    from jwtmesh.jose import Key, KeySet, UnsupportedAlgorithmError, Validator, encode

    modern = Key.generate("Ed25519")
    assert modern.alg == "Ed25519" and modern.public_jwk()["crv"] == "Ed25519"
    claims = {
        "iss": "https://i",
        "sub": "s",
        "aud": "a",
        "exp": 2_000_000_000,
        "iat": 1,
        "jti": "j",
    }
    validator = Validator(KeySet.from_jwks(KeySet([modern]).to_jwks()), "https://i", "a")
    assert validator.decode(encode(claims, modern), now=1_900_000_000)["sub"] == "s"
    # The same key material under the older name is another key: the header may not switch.
    legacy = Key.from_jwk({**modern.private_jwk(), "alg": "EdDSA"})
    with pytest.raises(UnsupportedAlgorithmError) as refused:
        validator.decode(encode(claims, legacy), now=1_900_000_000)
    assert refused.value.code == "unsupported_alg"

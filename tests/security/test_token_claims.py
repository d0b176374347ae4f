"""Claim validation: types, required claims, exact issuer, audience and token type."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from jwtmesh.jose import (
    InvalidAudienceError,
    InvalidClaimError,
    InvalidIssuerError,
    InvalidTypeError,
    Key,
    MalformedTokenError,
    MissingClaimError,
    encode,
)

from ._support import AUDIENCE, ISSUER, NOW, claims, header_for, rejected, signed, validator

WRONG_TIME_VALUES: list[Any] = [
    str(NOW + 300),
    float(NOW + 300),
    NOW + 300.5,
    True,
    False,
    10**50,
    -1,
    2**53,
    None,
    [NOW + 300],
    {"t": NOW + 300},
]


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", WRONG_TIME_VALUES, ids=repr)
def test_time_claim_of_the_wrong_type_is_invalid(es256: Key, name: str, value: Any) -> None:
    # The standard serialiser writes any int (orjson stops at 64 bits).
    payload = orjson.dumps(claims(**{name: "VALUE"})).replace(
        b'"VALUE"', json.dumps(value).encode()
    )
    token = signed(es256, header_for(es256), payload)

    error = rejected(validator(es256), token, InvalidClaimError, "invalid_claim")

    assert error.claim == name


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_a_time_claim_written_as_nan_is_malformed_json(es256: Key, name: str) -> None:
    """NaN cannot reach claim validation: it is not JSON, so the payload is malformed."""
    payload = orjson.dumps(claims(**{name: 0})).replace(
        f'"{name}":0'.encode(), f'"{name}":NaN'.encode()
    )
    assert b"NaN" in payload

    rejected(
        validator(es256),
        signed(es256, header_for(es256), payload),
        MalformedTokenError,
        "malformed",
    )


@pytest.mark.parametrize("name", ["iss", "sub", "jti", "scope", "client_id", "sid"])
@pytest.mark.parametrize("value", [7, 1.5, True, ["x"], {"x": 1}, None, "x" * 1025], ids=repr)
def test_string_claim_of_the_wrong_type_is_invalid(es256: Key, name: str, value: Any) -> None:
    token = encode(claims(**{name: value}), es256)

    error = rejected(validator(es256), token, InvalidClaimError, "invalid_claim")

    assert error.claim == name


@pytest.mark.parametrize("name", ["iss", "sub", "aud", "exp", "iat", "jti"])
def test_missing_required_claim(es256: Key, name: str) -> None:
    body = {k: v for k, v in claims().items() if k != name}

    error = rejected(validator(es256), encode(body, es256), MissingClaimError, "missing_claim")

    assert error.claim == name


def test_required_can_be_extended(es256: Key) -> None:
    error = rejected(
        validator(es256, required=("sub", "client_id")),
        encode(claims(), es256),
        MissingClaimError,
        "missing_claim",
    )

    assert error.claim == "client_id"


@pytest.mark.parametrize(
    "iss",
    [
        "https://auth.example/",
        "https://auth.example.evil",
        "https://auth.examplex",
        "https://auth.exampl",
        "https://auth",
        "auth.example",
        "http",
        "",
        "HTTPS://AUTH.EXAMPLE",
        "https://Auth.example",
        " https://auth.example",
        "https://auth.example ",
        "https://auth.example\x00",
        "https://evil.example/https://auth.example",
    ],
)
def test_issuer_is_compared_exactly(es256: Key, iss: str) -> None:
    error = rejected(
        validator(es256), encode(claims(iss=iss), es256), InvalidIssuerError, "wrong_issuer"
    )

    assert error.claim == "iss"


def test_issuer_as_a_list_is_invalid(es256: Key) -> None:
    token = encode(claims(iss=[ISSUER]), es256)

    error = rejected(validator(es256), token, InvalidClaimError, "invalid_claim")

    assert error.claim == "iss"


def test_missing_aud_is_a_missing_claim_even_when_not_required(es256: Key) -> None:
    body = {k: v for k, v in claims().items() if k != "aud"}

    error = rejected(
        validator(es256, required=()), encode(body, es256), MissingClaimError, "missing_claim"
    )

    assert error.claim == "aud"


@pytest.mark.parametrize(
    "aud", [[], 7, {"aud": AUDIENCE}, [7], [AUDIENCE, None], None, True], ids=repr
)
def test_aud_of_the_wrong_type_is_invalid(es256: Key, aud: Any) -> None:
    error = rejected(
        validator(es256), encode(claims(aud=aud), es256), InvalidClaimError, "invalid_claim"
    )

    assert error.claim == "aud"


@pytest.mark.parametrize(
    "aud",
    ["billing", "Orders", "orders ", "order", ["billing"], ["billing", "Orders"], [""]],
    ids=repr,
)
def test_aud_that_does_not_name_us_is_the_wrong_audience(es256: Key, aud: Any) -> None:
    error = rejected(
        validator(es256), encode(claims(aud=aud), es256), InvalidAudienceError, "wrong_audience"
    )

    assert error.claim == "aud"


@pytest.mark.parametrize(
    "typ", ["rt+jwt", "JWT", "jwt", "at+jwt+x", "application/jwt", "at-jwt", ""]
)
def test_refresh_id_and_other_token_types_are_the_wrong_type(es256: Key, typ: str) -> None:
    token = signed(es256, header_for(es256, typ=typ), claims())

    error = rejected(validator(es256), token, InvalidTypeError, "wrong_typ")

    assert error.claim == "typ"


@pytest.mark.parametrize("typ", [None, 7, ["at+jwt"]], ids=repr)
def test_missing_or_non_string_typ_is_the_wrong_type(es256: Key, typ: Any) -> None:
    header = {"alg": "ES256", "kid": es256.kid}
    if typ is not None:
        header["typ"] = typ

    rejected(validator(es256), signed(es256, header, claims()), InvalidTypeError, "wrong_typ")

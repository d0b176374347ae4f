"""Keys: generation, PEM and JWK round trips, RFC 7638 thumbprints, HMAC secrets."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jwtmesh.jose import (
    InsecureKeyError,
    JWKError,
    Key,
    KeyFormatError,
    encode,
    thumbprint,
)
from jwtmesh.jose.keys import looks_like_public_key

from ._support import claims, validator_for

# RFC 7638 section 3.1: an RSA public key and its SHA-256 thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvz"
        "qY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6We"
        "Zu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def _same_signer(a: Key, b: Key) -> bool:
    """True when a token signed by ``a`` decodes under a validator trusting ``b``."""
    token = encode(claims(), a)
    return bool(validator_for(b).decode(token, now=claims()["iat"])["sub"] == "ada")


def test_generate_sign_decode_round_trip(key: Key) -> None:
    token = encode(claims(), key)

    decoded = validator_for(key).decode(token, now=claims()["iat"])

    assert decoded == claims()
    assert key.is_private


def test_public_half_cannot_sign_but_verifies(key: Key) -> None:
    if key.alg == "HS256":
        with pytest.raises(KeyFormatError):
            key.public()
        return
    public = key.public()

    assert not public.is_private
    assert public.kid == key.kid
    with pytest.raises(KeyFormatError):
        public.sign(b"message")
    assert _same_signer(key, public)


def test_private_pem_round_trip(key: Key) -> None:
    if key.alg == "HS256":
        with pytest.raises(KeyFormatError):
            key.private_pem()
        return
    loaded = Key.from_pem(key.private_pem(), alg=key.alg)

    assert loaded.kid == key.kid
    assert loaded.is_private
    assert _same_signer(loaded, key)


def test_public_pem_round_trip(key: Key) -> None:
    if key.alg == "HS256":
        with pytest.raises(KeyFormatError):
            key.public_pem()
        return
    loaded = Key.from_pem(key.public_pem(), alg=key.alg)

    assert loaded.kid == key.kid
    assert not loaded.is_private
    assert _same_signer(key, loaded)


def test_private_jwk_round_trip(key: Key) -> None:
    jwk = key.private_jwk()
    loaded = Key.from_jwk(orjson.loads(orjson.dumps(jwk)))

    assert loaded.kid == key.kid
    assert loaded.alg == key.alg
    assert loaded.private_jwk() == jwk
    assert _same_signer(loaded, key)


def test_public_jwk_round_trip_has_no_private_members(key: Key) -> None:
    if key.alg == "HS256":
        with pytest.raises(KeyFormatError):
            key.public_jwk()
        return
    jwk = key.public_jwk()
    loaded = Key.from_jwk(jwk)

    assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk)
    assert jwk["use"] == "sig"
    assert jwk["alg"] == key.alg
    assert loaded.kid == key.kid
    assert _same_signer(key, loaded)


def test_kid_is_the_rfc7638_thumbprint(key: Key) -> None:
    members = key.private_jwk() if key.alg == "HS256" else key.public_jwk()

    assert key.kid == thumbprint(members)


def test_rfc7638_section_3_1_example_thumbprint() -> None:
    assert thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT
    assert Key.from_jwk({k: v for k, v in RFC7638_JWK.items() if k != "kid"}).kid == (
        RFC7638_THUMBPRINT
    )


def test_thumbprint_ignores_optional_members() -> None:
    decorated = {**RFC7638_JWK, "use": "sig", "key_ops": ["verify"]}

    assert thumbprint(decorated) == RFC7638_THUMBPRINT


@pytest.mark.parametrize(
    "jwk",
    [{}, {"kty": "XYZ"}, {"kty": ["RSA"]}, {"kty": "RSA", "e": "AQAB"}, {"kty": "EC", "x": 1}],
)
def test_thumbprint_of_an_unusable_jwk_is_a_key_format_error(jwk: dict[str, Any]) -> None:
    with pytest.raises(KeyFormatError):
        thumbprint(jwk)


def test_jwk_kid_is_kept_when_given() -> None:
    assert Key.from_jwk(RFC7638_JWK).kid == "2011-04-29"


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "EC", "crv": ["P-256"], "x": "AA", "y": "AA"},
        {"kty": {"EC": 1}, "crv": "P-256"},
        {"kty": "EC", "crv": {"a": 1}, "x": "AA", "y": "AA", "alg": "ES256"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "OKP", "crv": "Ed448", "x": "AA"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "EC", "crv": "P-256", "x": "A+A/", "y": "AA=="},
        {"kty": "EC", "crv": "P-256", "x": "é", "y": "AA"},
        {**RFC7638_JWK, "alg": "ES256"},
        {**RFC7638_JWK, "alg": "HS256"},
        {**RFC7638_JWK, "use": "enc"},
        {**RFC7638_JWK, "kid": ""},
        {**RFC7638_JWK, "kid": 7},
        {"kty": "oct", "k": "c2hvcnQ", "alg": "HS256"},
    ],
)
def test_unusable_jwk_is_refused_with_a_jwk_error(jwk: dict[str, Any]) -> None:
    with pytest.raises(JWKError):
        Key.from_jwk(jwk)


def test_rsa_keys_under_2048_bits_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    with pytest.raises(InsecureKeyError):
        Key.from_pem(pem)


def test_pem_of_the_wrong_curve_for_alg_is_refused(keys_by_alg: dict[str, Key]) -> None:
    with pytest.raises(KeyFormatError):
        Key.from_pem(keys_by_alg["ES256"].public_pem(), alg="ES384")
    with pytest.raises(KeyFormatError):
        Key.from_pem(keys_by_alg["ES256"].public_pem(), alg="HS256")
    with pytest.raises(KeyFormatError):
        Key.from_pem(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_from_secret_refuses_secrets_shorter_than_the_hash(alg: str) -> None:
    size = {"HS256": 32, "HS384": 48, "HS512": 64}[alg]

    with pytest.raises(InsecureKeyError):
        Key.from_secret(b"s" * (size - 1), alg=alg)
    assert Key.from_secret(b"s" * size, alg=alg).alg == alg


def test_from_secret_refuses_non_hmac_algorithms() -> None:
    with pytest.raises(KeyFormatError):
        Key.from_secret(b"s" * 64, alg="ES256")


def test_from_secret_refuses_public_key_shapes(keys_by_alg: dict[str, Key]) -> None:
    public = keys_by_alg["ES256"].public()
    forms = [
        public.public_pem(),
        public.public_pem().rstrip(b"\n"),
        public.public_pem().replace(b"\n", b"\r\n"),
        b"  \n" + public.public_pem(),
        orjson.dumps(public.public_jwk()),
        orjson.dumps({"keys": [public.public_jwk()]}),
    ]

    for form in forms:
        with pytest.raises(InsecureKeyError):
            Key.from_secret(form)


def test_random_secrets_are_never_mistaken_for_public_keys() -> None:
    """Regression: a prefix blocklist refused about 0.8% of random 32-byte secrets."""
    rng = random.Random(7638)
    refused = [
        secret
        for secret in (rng.randbytes(32) for _ in range(20_000))
        if looks_like_public_key(secret)
    ]

    assert refused == []


@pytest.mark.parametrize(
    "secret",
    [b"{" + b"x" * 40, b"[" + b"y" * 40, b"0\x82" + b"z" * 40, b"-----" + b"w" * 40],
)
def test_secrets_that_merely_start_like_a_key_are_accepted(secret: bytes) -> None:
    assert Key.from_secret(secret).alg == "HS256"


def test_repr_names_no_key_material(key: Key) -> None:
    text = repr(key)
    secret_values = [
        value for name, value in key.private_jwk().items() if name in {"d", "p", "q", "k"}
    ]

    assert key.kid in text
    assert "private" in text
    assert secret_values
    assert not any(value in text for value in secret_values)

"""RFC 8725 attack classes: alg none, stripped signatures, key confusion, key-selection headers."""

from __future__ import annotations

import json
import socket
import urllib.request
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jwtmesh.jose import (
    SUPPORTED_ALGORITHMS,
    InsecureKeyError,
    InvalidSignatureError,
    Key,
    KeySet,
    MalformedTokenError,
    UnknownKeyError,
    UnsupportedAlgorithmError,
    UnsupportedHeaderError,
    encode,
)

from ._support import (
    NOW,
    b64,
    claims,
    header_for,
    hmac_signed,
    rejected,
    signed,
    signing_input,
    unb64,
    validator,
    with_signature,
)


def public_key_forms(key: Key) -> dict[str, bytes]:
    """Every common serialisation of ``key``'s public half."""
    public: Any = serialization.load_pem_public_key(key.public_pem())
    pem = key.public_pem()
    openssh = public.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    jwk = key.public().public_jwk()
    forms = {
        "pem": pem,
        "pem-without-trailing-newline": pem.rstrip(b"\n"),
        "pem-crlf": pem.replace(b"\n", b"\r\n"),
        "pem-base64-body-only": b"".join(pem.splitlines()[1:-1]),
        "der-spki": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "openssh": openssh,
        "openssh-with-comment": openssh + b" issuer@auth\n",
        "jwk-json": orjson.dumps(jwk),
        "jwk-json-pretty": json.dumps(jwk, indent=2).encode(),
        "jwks-json": orjson.dumps({"keys": [jwk]}),
    }
    if isinstance(public, rsa.RSAPublicKey):
        forms["pkcs1-pem"] = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        )
        forms["pkcs1-der"] = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
    return forms


FORM_NAMES = [
    "pem",
    "pem-without-trailing-newline",
    "pem-crlf",
    "pem-base64-body-only",
    "der-spki",
    "openssh",
    "openssh-with-comment",
    "jwk-json",
    "jwk-json-pretty",
    "jwks-json",
]
CONFUSION_CASES = [
    *((alg, form) for alg in ("ES256", "EdDSA", "RS256") for form in FORM_NAMES),
    ("RS256", "pkcs1-pem"),
    ("RS256", "pkcs1-der"),
]


# ------------------------------------------------------------------ alg none
@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "garbage", "real"])
@pytest.mark.parametrize("with_kid", [True, False])
def test_alg_none_is_refused_in_any_spelling(
    es256: Key, spelling: str, signature: str, with_kid: bool
) -> None:
    header: dict[str, Any] = {"alg": spelling, "typ": "at+jwt"}
    if with_kid:
        header["kid"] = es256.kid
    head = signing_input(header, claims())
    tail = {"": "", "garbage": b64(b"\x00" * 64), "real": b64(es256.sign(head.encode()))}

    rejected(
        validator(es256), f"{head}.{tail[signature]}", UnsupportedAlgorithmError, "unsupported_alg"
    )


def test_alg_none_with_an_unknown_kid_is_not_reported_as_unknown_kid(es256: Key) -> None:
    """Regression: it was unknown_kid, which makes a guard refetch the JWKS for nothing."""
    token = signing_input({"alg": "none", "typ": "at+jwt", "kid": "attacker"}, claims()) + "."

    error = rejected(validator(es256), token, UnsupportedAlgorithmError, "unsupported_alg")

    assert not isinstance(error, UnknownKeyError)


# ------------------------------------------------------------------ signatures
@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_stripped_signature_is_refused(issuer_keys: dict[str, Key], alg: str) -> None:
    key = issuer_keys[alg]
    token = encode(claims(), key)
    head = token.rsplit(".", 1)[0]

    rejected(validator(key), head + ".", InvalidSignatureError, "bad_signature")
    rejected(validator(key), head, MalformedTokenError, "malformed")


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_truncated_and_padded_signatures_are_refused(issuer_keys: dict[str, Key], alg: str) -> None:
    key = issuer_keys[alg]
    token = encode(claims(), key)
    signature = unb64(token.rsplit(".", 1)[1])

    rejected(
        validator(key),
        with_signature(token, signature[:-1]),
        InvalidSignatureError,
        "bad_signature",
    )
    rejected(
        validator(key),
        with_signature(token, signature + b"\x00"),
        InvalidSignatureError,
        "bad_signature",
    )
    rejected(
        validator(key),
        with_signature(token, b"\x00" + signature),
        InvalidSignatureError,
        "bad_signature",
    )
    rejected(validator(key), token + "==", MalformedTokenError, "malformed")
    rejected(
        validator(key),
        token[:-1] if len(token) % 4 != 2 else token[:-2] + "=",
        MalformedTokenError,
        "malformed",
    )


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
@pytest.mark.parametrize("byte", [0, 17, -1])
def test_altered_signature_is_refused(issuer_keys: dict[str, Key], alg: str, byte: int) -> None:
    key = issuer_keys[alg]
    token = encode(claims(), key)
    signature = bytearray(unb64(token.rsplit(".", 1)[1]))
    signature[byte] ^= 0x80

    rejected(
        validator(key),
        with_signature(token, bytes(signature)),
        InvalidSignatureError,
        "bad_signature",
    )


def test_a_signature_moved_from_another_token_is_refused(es256: Key) -> None:
    mine = encode(claims(sub="mallory"), es256)
    theirs = encode(claims(sub="admin", roles=["admin"]), es256)
    spliced = theirs.rsplit(".", 1)[0] + "." + mine.rsplit(".", 1)[1]

    rejected(validator(es256), spliced, InvalidSignatureError, "bad_signature")


def test_a_payload_edited_after_signing_is_refused(es256: Key) -> None:
    header64, _, signature64 = encode(claims(), es256).split(".")
    forged = f"{header64}.{b64(orjson.dumps(claims(sub='admin')))}.{signature64}"

    rejected(validator(es256), forged, InvalidSignatureError, "bad_signature")


def test_a_token_signed_by_another_key_under_our_kid_is_refused(es256: Key) -> None:
    attacker = Key.generate("ES256")
    token = signed(attacker, header_for(es256), claims())

    rejected(validator(es256), token, InvalidSignatureError, "bad_signature")


# ------------------------------------------------------------------ algorithm / key confusion
@pytest.mark.parametrize(("alg", "form"), CONFUSION_CASES)
@pytest.mark.parametrize("with_kid", [True, False])
def test_hs256_signed_with_the_issuer_public_key_is_refused(
    issuer_keys: dict[str, Key], alg: str, form: str, with_kid: bool
) -> None:
    key = issuer_keys[alg]
    header: dict[str, Any] = {"alg": "HS256", "typ": "at+jwt"}
    if with_kid:
        header["kid"] = key.kid
    forged = hmac_signed(public_key_forms(key)[form], header, claims(roles=["admin"]))

    rejected(validator(key), forged, UnsupportedAlgorithmError, "unsupported_alg")


@pytest.mark.parametrize(("alg", "form"), CONFUSION_CASES)
@pytest.mark.parametrize("hmac_alg", ["HS256", "HS384", "HS512"])
def test_a_public_key_in_any_form_is_never_an_hmac_secret(
    issuer_keys: dict[str, Key], alg: str, form: str, hmac_alg: str
) -> None:
    with pytest.raises(InsecureKeyError):
        Key.from_secret(public_key_forms(issuer_keys[alg])[form], alg=hmac_alg)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_no_other_algorithm_is_accepted_for_a_key(issuer_keys: dict[str, Key], alg: str) -> None:
    key = issuer_keys[alg]
    others = [
        *sorted(SUPPORTED_ALGORITHMS - {alg}),
        "ES256K",
        "RS1",
        "Ed25519",
        "es256",
        f"{alg} ",
        "",
    ]

    for other in others:
        header = {"alg": other, "typ": "at+jwt", "kid": key.kid}
        head = signing_input(header, claims())
        token = f"{head}.{b64(key.sign(head.encode()))}"
        rejected(validator(key), token, UnsupportedAlgorithmError, "unsupported_alg")


def test_ps256_signature_from_the_same_rsa_key_is_refused_for_an_rs256_key(
    issuer_keys: dict[str, Key],
) -> None:
    rs256 = issuer_keys["RS256"]
    as_pss = Key.from_pem(rs256.private_pem(), alg="PS256")
    token = signed(as_pss, header_for(as_pss, kid=rs256.kid), claims())

    rejected(validator(rs256), token, UnsupportedAlgorithmError, "unsupported_alg")


@pytest.mark.parametrize("alg", [None, 1, ["ES256"], {"ES256": True}])
def test_alg_that_is_not_a_string_is_malformed(es256: Key, alg: Any) -> None:
    header = {"typ": "at+jwt", "kid": es256.kid} if alg is None else header_for(es256, alg=alg)

    rejected(validator(es256), signed(es256, header, claims()), MalformedTokenError, "malformed")


def test_algorithms_allow_list_narrows_what_the_keys_permit(issuer_keys: dict[str, Key]) -> None:
    es256, eddsa = issuer_keys["ES256"], issuer_keys["EdDSA"]
    narrowed = validator(es256, eddsa, algorithms=["EdDSA"])

    rejected(narrowed, encode(claims(), es256), UnsupportedAlgorithmError, "unsupported_alg")
    assert narrowed.decode(encode(claims(), eddsa), now=NOW)["sub"] == "ada"


# ------------------------------------------------------------------ key-selection headers
@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record (and block) every attempt to resolve a name or open a connection."""
    attempts: list[Any] = []

    def record(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network use in a jose test")

    monkeypatch.setattr(socket.socket, "connect", record)
    monkeypatch.setattr(socket, "getaddrinfo", record)
    monkeypatch.setattr(socket, "create_connection", record)
    monkeypatch.setattr(urllib.request, "urlopen", record)
    return attempts


@pytest.mark.parametrize("kid", ["ours", "attackers", None])
def test_embedded_jwk_is_refused(es256: Key, no_network: list[Any], kid: str | None) -> None:
    attacker = Key.generate("ES256")
    header: dict[str, Any] = {
        "alg": "ES256",
        "typ": "at+jwt",
        "jwk": attacker.public().public_jwk(),
    }
    if kid is not None:
        header["kid"] = es256.kid if kid == "ours" else attacker.kid

    rejected(
        validator(es256),
        signed(attacker, header, claims()),
        UnsupportedHeaderError,
        "unsupported_header",
    )
    assert no_network == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jku", "http://127.0.0.1:9/jwks.json"),
        ("jku", "https://auth.example/.well-known/jwks.json"),
        ("x5u", "http://127.0.0.1:9/cert.pem"),
        ("x5c", ["MIIBszCCAVmgAwIBAgIUAAAA"]),
    ],
)
def test_key_url_and_certificate_headers_are_refused_and_never_fetched(
    es256: Key, no_network: list[Any], name: str, value: Any
) -> None:
    attacker = Key.generate("ES256")
    token = signed(attacker, header_for(es256, **{name: value}), claims())

    rejected(validator(es256), token, UnsupportedHeaderError, "unsupported_header")
    assert no_network == []


def test_unknown_kid_is_reported_with_the_kid(es256: Key) -> None:
    stranger = Key.generate("ES256")

    error = rejected(validator(es256), encode(claims(), stranger), UnknownKeyError, "unknown_kid")

    assert isinstance(error, UnknownKeyError)
    assert error.kid == stranger.kid


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../dev/null",
        "/etc/passwd",
        "..\\..\\windows\\win.ini",
        "' OR '1'='1' --",
        "x'; DROP TABLE signing_keys; --",
        "$(curl http://127.0.0.1:9)",
        "`id`",
        "a;b|c&d>e",
        "%00",
        "k" * 128,
    ],
)
def test_hostile_printable_kid_is_just_an_unknown_kid(es256: Key, kid: str) -> None:
    token = signed(es256, header_for(es256, kid=kid), claims())

    error = rejected(validator(es256), token, UnknownKeyError, "unknown_kid")

    assert str(error) == "no key for this kid"


@pytest.mark.parametrize(
    "kid",
    [
        "k" * 129,
        "k" * 5000,
        "",
        "a\x00b",
        "line\nbreak",
        "tab\there",
        "\u202etxt.exe",
        7,
        ["a"],
        {"a": 1},
    ],
)
def test_overlong_empty_or_non_printable_kid_is_malformed(es256: Key, kid: Any) -> None:
    token = signed(es256, header_for(es256, kid=kid), claims())

    rejected(validator(es256), token, MalformedTokenError, "malformed")


def test_kid_of_a_key_no_longer_in_the_set_is_unknown(issuer_keys: dict[str, Key]) -> None:
    old, new = issuer_keys["ES256"], issuer_keys["EdDSA"]
    check = validator(old, new)
    token = encode(claims(), old)
    assert check.decode(token, now=NOW)["sub"] == "ada"

    check.keys = KeySet([new.public()])

    rejected(check, token, UnknownKeyError, "unknown_kid")


def test_a_token_without_kid_needs_a_single_key_set(issuer_keys: dict[str, Key]) -> None:
    es256 = issuer_keys["ES256"]
    token = signed(es256, {"alg": "ES256", "typ": "at+jwt"}, claims())

    assert validator(es256).decode(token, now=NOW)["sub"] == "ada"
    rejected(validator(es256, issuer_keys["EdDSA"]), token, UnknownKeyError, "unknown_kid")


# ------------------------------------------------------------------ crit, b64, zip, JWE
@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["exp"], "exp": NOW + 300},
        {"crit": []},
        {"crit": ["b64"], "b64": False},
        {"b64": False},
        {"b64": True},
        {"zip": "DEF"},
        {"enc": "A256GCM"},
    ],
)
def test_crit_b64_zip_and_enc_headers_are_refused(es256: Key, extra: dict[str, Any]) -> None:
    token = signed(es256, header_for(es256, **extra), claims())

    rejected(validator(es256), token, UnsupportedHeaderError, "unsupported_header")


def test_unencoded_payload_token_is_refused(es256: Key) -> None:
    header = header_for(es256, b64=False, crit=["b64"])
    head = b64(orjson.dumps(header)).encode() + b"." + orjson.dumps(claims())
    token = head + b"." + b64(es256.sign(head)).encode()

    with pytest.raises((UnsupportedHeaderError, MalformedTokenError)) as caught:
        validator(es256).decode(token, now=NOW)
    assert caught.value.code in {"unsupported_header", "malformed"}


@pytest.mark.parametrize("segments", [1, 2, 4, 5, 6])
def test_tokens_without_exactly_three_segments_are_malformed(es256: Key, segments: int) -> None:
    header = b64(orjson.dumps({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": es256.kid}))
    parts = [header, *(b64(bytes([n]) * 16) for n in range(1, segments))]

    rejected(validator(es256), ".".join(parts), MalformedTokenError, "malformed")


@pytest.mark.parametrize("token", ["", ".", "..", "...", "a.b", "a.b.c.d"])
def test_empty_and_dotted_tokens_are_malformed(es256: Key, token: str) -> None:
    rejected(validator(es256), token, MalformedTokenError, "malformed")


def test_a_valid_token_with_an_extra_segment_is_malformed(es256: Key) -> None:
    token = encode(claims(), es256)

    rejected(validator(es256), token + ".", MalformedTokenError, "malformed")
    rejected(validator(es256), token + "." + token.split(".")[2], MalformedTokenError, "malformed")

"""One token, one spelling: strict base64url and strict JSON (RFC 7515 section 2, RFC 8259)."""

from __future__ import annotations

import base64

import orjson
import pytest

from jwtmesh.jose import Key, MalformedTokenError, encode

from ._support import NOW, b64, claims, header_for, rejected, signed, validator

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def sign_text(key: Key, header64: str, payload64: str) -> str:
    """Sign exactly these segment texts, however they are spelled."""
    head = f"{header64}.{payload64}"
    return head + "." + b64(key.sign(head.encode("ascii")))


def with_stray_bits(segment: str) -> str:
    """Set the unused low bits of the last character: another spelling of the same bytes."""
    mask = {2: 0x0F, 3: 0x03}[len(segment) % 4]
    return segment[:-1] + ALPHABET[ALPHABET.index(segment[-1]) | mask]


def header64_with_rest(key: Key, rest: int) -> str:
    """A valid header segment whose length is ``rest`` modulo 4."""
    for pad in range(8):
        segment = b64(orjson.dumps(header_for(key, x="p" * pad)))
        if len(segment) % 4 == rest and ALPHABET.index(segment[-1]) != 63:
            return segment
    raise AssertionError("no header of that length")


# ------------------------------------------------------------------ base64url
@pytest.mark.parametrize("padding", ["=", "==", "==="])
def test_padded_segments_are_malformed(es256: Key, padding: str) -> None:
    header64, payload64, signature64 = encode(claims(), es256).split(".")

    rejected(
        validator(es256),
        f"{header64}{padding}.{payload64}.{signature64}",
        MalformedTokenError,
        "malformed",
    )
    rejected(
        validator(es256),
        sign_text(es256, header64, payload64 + padding),
        MalformedTokenError,
        "malformed",
    )
    rejected(
        validator(es256),
        f"{header64}.{payload64}.{signature64}{padding}",
        MalformedTokenError,
        "malformed",
    )


def test_standard_base64_plus_and_slash_are_malformed(es256: Key) -> None:
    header = orjson.dumps(header_for(es256, x="?>?>?>~~~"))
    standard = base64.b64encode(header).rstrip(b"=").decode()
    assert "+" in standard or "/" in standard
    payload64 = b64(orjson.dumps(claims()))

    rejected(
        validator(es256), sign_text(es256, standard, payload64), MalformedTokenError, "malformed"
    )


@pytest.mark.parametrize("rest", [2, 3])
def test_non_zero_trailing_bits_in_the_header_are_malformed(es256: Key, rest: int) -> None:
    header64 = header64_with_rest(es256, rest)
    stray = with_stray_bits(header64)
    assert base64.urlsafe_b64decode(stray + "==") == base64.urlsafe_b64decode(header64 + "==")

    token = sign_text(es256, stray, b64(orjson.dumps(claims())))

    rejected(validator(es256), token, MalformedTokenError, "malformed")


def test_non_zero_trailing_bits_in_the_signature_are_malformed(es256: Key) -> None:
    token = encode(claims(), es256)
    head, signature64 = token.rsplit(".", 1)
    assert len(signature64) % 4 == 2

    rejected(
        validator(es256), f"{head}.{with_stray_bits(signature64)}", MalformedTokenError, "malformed"
    )


def test_non_zero_trailing_bits_in_the_payload_are_malformed(es256: Key) -> None:
    for pad in range(4):
        payload64 = b64(orjson.dumps(claims(pad="q" * pad)))
        if len(payload64) % 4 in (2, 3):
            break
    token = sign_text(es256, b64(orjson.dumps(header_for(es256))), with_stray_bits(payload64))

    rejected(validator(es256), token, MalformedTokenError, "malformed")


@pytest.mark.parametrize("space", [" ", "\n", "\t", "\r\n", "\x0b", "\x00"])
@pytest.mark.parametrize("segment", [0, 1, 2])
def test_whitespace_inside_a_segment_is_malformed(es256: Key, space: str, segment: int) -> None:
    parts = encode(claims(), es256).split(".")
    parts[segment] = parts[segment][:8] + space + parts[segment][8:]
    token = ".".join(parts) if segment == 2 else sign_text(es256, parts[0], parts[1])

    rejected(validator(es256), token, MalformedTokenError, "malformed")


@pytest.mark.parametrize("where", ["prefix", "suffix"])
def test_surrounding_whitespace_is_malformed(es256: Key, where: str) -> None:
    token = encode(claims(), es256)

    rejected(
        validator(es256),
        " " + token if where == "prefix" else token + "\n",
        MalformedTokenError,
        "malformed",
    )


@pytest.mark.parametrize("text", ["é", "\u0660", "\uff21", "\U0001f600"])
def test_non_ascii_tokens_are_malformed(es256: Key, text: str) -> None:
    header64, payload64, signature64 = encode(claims(), es256).split(".")
    as_str = f"{header64[:5]}{text}{header64[5:]}.{payload64}.{signature64}"

    rejected(validator(es256), as_str, MalformedTokenError, "malformed")
    rejected(validator(es256), as_str.encode("utf-8"), MalformedTokenError, "malformed")


# ------------------------------------------------------------------ JSON shape
@pytest.mark.parametrize(
    "document", [b"[]", b'["alg"]', b'"ES256"', b"1", b"null", b"true", b"", b" "]
)
def test_header_that_is_not_a_json_object_is_malformed(es256: Key, document: bytes) -> None:
    rejected(validator(es256), signed(es256, document, claims()), MalformedTokenError, "malformed")


@pytest.mark.parametrize(
    "document", [b"[]", b'["sub"]', b'"ada"', b"1800000000", b"null", b"false", b""]
)
def test_signed_payload_that_is_not_a_json_object_is_malformed(es256: Key, document: bytes) -> None:
    rejected(
        validator(es256),
        signed(es256, header_for(es256), document),
        MalformedTokenError,
        "malformed",
    )


def _header_bytes(key: Key) -> bytes:
    return orjson.dumps(header_for(key))


@pytest.mark.parametrize(
    "template",
    [
        b'{"alg":"ES256","alg":"none","typ":"at+jwt","kid":"KID"}',
        b'{"alg": "ES256", "typ": "at+jwt", "kid": "KID", "kid": "other"}',
        b'{"alg":"ES256","typ":"at+jwt","kid":"KID","\\u006bid":"other"}',
        b'{"alg":"ES256","typ":"at+jwt","typ":"JWT","kid":"KID"}',
    ],
)
def test_duplicate_names_in_the_header_are_malformed(es256: Key, template: bytes) -> None:
    header = template.replace(b"KID", es256.kid.encode())

    rejected(validator(es256), signed(es256, header, claims()), MalformedTokenError, "malformed")


@pytest.mark.parametrize(
    "duplicate",
    [
        b',"sub":"admin"}',
        b', "sub" : "admin" }',
        b',"\\u0073ub":"admin"}',
        b',"exp":9999999999}',
        b',"aud":"orders"}',
    ],
)
def test_duplicate_names_in_a_signed_payload_are_malformed(es256: Key, duplicate: bytes) -> None:
    payload = orjson.dumps(claims())[:-1] + duplicate

    rejected(
        validator(es256),
        signed(es256, header_for(es256), payload),
        MalformedTokenError,
        "malformed",
    )


def test_a_non_canonical_but_unique_payload_is_accepted(es256: Key) -> None:
    payload = orjson.dumps(claims(), option=orjson.OPT_INDENT_2).replace(b'"ada"', b'"\\u0061da"')

    decoded = validator(es256).decode(signed(es256, header_for(es256), payload), now=NOW)

    assert decoded == claims()


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff",
        b"\xc3\x28",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\\ud800",
        b"\\udc00x",
    ],
)
def test_invalid_utf8_and_lone_surrogates_are_malformed(es256: Key, bad: bytes) -> None:
    header = _header_bytes(es256)[:-1] + b',"x":"' + bad + b'"}'
    payload = orjson.dumps(claims())[:-1] + b',"name":"' + bad + b'"}'

    rejected(validator(es256), signed(es256, header, claims()), MalformedTokenError, "malformed")
    rejected(
        validator(es256),
        signed(es256, header_for(es256), payload),
        MalformedTokenError,
        "malformed",
    )


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
def test_nan_and_infinity_are_malformed(es256: Key, literal: bytes) -> None:
    payload = orjson.dumps(claims(exp=0)).replace(b'"exp":0', b'"exp":' + literal)
    header = _header_bytes(es256)[:-1] + b',"x":' + literal + b"}"

    rejected(
        validator(es256),
        signed(es256, header_for(es256), payload),
        MalformedTokenError,
        "malformed",
    )
    rejected(validator(es256), signed(es256, header, claims()), MalformedTokenError, "malformed")


def test_an_integer_too_long_to_parse_is_malformed(es256: Key) -> None:
    payload = orjson.dumps(claims(exp=0)).replace(b'"exp":0', b'"exp":' + b"9" * 5000)

    rejected(
        validator(es256),
        signed(es256, header_for(es256), payload),
        MalformedTokenError,
        "malformed",
    )


@pytest.mark.parametrize("depth", [17, 40, 300, 1000])
def test_deeply_nested_payload_is_malformed(es256: Key, depth: int) -> None:
    payload = orjson.dumps(claims())[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}"

    rejected(
        validator(es256),
        signed(es256, header_for(es256), payload),
        MalformedTokenError,
        "malformed",
    )


@pytest.mark.parametrize("depth", [17, 255, 300, 1000, 2000])
def test_deeply_nested_header_is_malformed(es256: Key, depth: int) -> None:
    """Regression: from 255 levels orjson re-serialisation raised a TypeError out of decode."""
    header = _header_bytes(es256)[:-1] + b',"x":' + b"[" * depth + b"]" * depth + b"}"

    rejected(validator(es256), signed(es256, header, claims()), MalformedTokenError, "malformed")


def test_modest_nesting_is_accepted(es256: Key) -> None:
    nested = {"a": [{"b": [[1, 2], {"c": [3]}]}]}

    assert validator(es256).decode(encode(claims(ctx=nested), es256), now=NOW)["ctx"] == nested


def test_a_byte_order_mark_is_malformed(es256: Key) -> None:
    header = b"\xef\xbb\xbf" + _header_bytes(es256)

    rejected(validator(es256), signed(es256, header, claims()), MalformedTokenError, "malformed")

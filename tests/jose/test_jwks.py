"""JWK Sets: loading skips unusable entries, never publishes private members."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from jwtmesh.jose import Key, KeyFormatError, KeySet

from ._support import make_key


@pytest.fixture(scope="module")
def published() -> list[Key]:
    """Three public keys as an authority would publish them."""
    return [make_key(alg).public() for alg in ("ES256", "EdDSA", "RS256")]


def _jwks(keys: list[Key], *extra: Any) -> dict[str, Any]:
    return {"keys": [*extra, *(key.public_jwk() for key in keys)]}


def test_round_trip_keeps_every_key(published: list[Key]) -> None:
    loaded = KeySet.from_jwks(KeySet(published).to_jwks())

    assert loaded.kids == {key.kid for key in published}
    assert [key.alg for key in loaded] == [key.alg for key in published]
    assert len(loaded) == 3


@pytest.mark.parametrize("form", ["dict", "bytes", "str"])
def test_document_may_be_a_dict_bytes_or_str(published: list[Key], form: str) -> None:
    document = _jwks(published)
    raw = orjson.dumps(document)
    forms: dict[str, dict[str, Any] | bytes | str] = {
        "dict": document,
        "bytes": raw,
        "str": raw.decode(),
    }
    given = forms[form]

    assert KeySet.from_jwks(given).kids == {key.kid for key in published}


def test_bad_entries_are_skipped_and_good_ones_kept(
    published: list[Key], caplog: pytest.LogCaptureFixture
) -> None:
    bad_entries: list[Any] = [
        "not an object",
        7,
        None,
        {},
        {"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "alg": "HS256"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "no-alg"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "off-curve"},
        {"kty": "EC", "crv": ["P-256"], "x": "AA", "y": "AA", "kid": "unhashable-crv"},
        {"kty": {"EC": 1}, "kid": "unhashable-kty"},
        {**published[0].public_jwk(), "use": "enc", "kid": "encryption-key"},
        {**published[0].public_jwk(), "alg": "ES384", "kid": "wrong-curve"},
        {"kty": "OKP", "crv": "X25519", "x": "AA", "kid": "x25519"},
    ]
    caplog.set_level(logging.WARNING, logger="jwtmesh.jose.jwks")

    loaded = KeySet.from_jwks(_jwks(published, *bad_entries))

    assert loaded.kids == {key.kid for key in published}
    assert "off-curve" in caplog.text
    assert "AQAB" not in caplog.text


def test_private_members_in_a_published_set_are_never_used(keys_by_alg: dict[str, Key]) -> None:
    private = keys_by_alg["ES256"]

    loaded = KeySet.from_jwks({"keys": [private.private_jwk()]})

    assert [key.is_private for key in loaded] == [False]
    assert loaded.get(private.kid) is not None


def test_duplicate_kids_keep_the_first(published: list[Key]) -> None:
    other = make_key("ES256").public()
    clash = {**other.public_jwk(), "kid": published[0].kid}

    loaded = KeySet.from_jwks(_jwks(published, clash))

    assert len(loaded) == 3
    assert loaded.get(published[0].kid) is not None


@pytest.mark.parametrize(
    "document",
    [b"not json", "{", b"[]", {"keys": "nope"}, {"no": []}, b'{"keys": {}}'],
)
def test_a_document_that_is_not_a_jwks_is_a_key_format_error(document: Any) -> None:
    with pytest.raises(KeyFormatError):
        KeySet.from_jwks(document)


def test_too_many_keys_is_refused(published: list[Key]) -> None:
    with pytest.raises(KeyFormatError):
        KeySet.from_jwks({"keys": [published[0].public_jwk()] * 33})


def test_key_set_lookup_by_kid(published: list[Key]) -> None:
    keys = KeySet(published)

    assert keys.get(published[1].kid) is published[1]
    assert keys.get("unknown") is None
    assert keys.get(None) is None
    assert published[2].kid in keys


def test_a_single_key_set_answers_a_missing_kid(published: list[Key]) -> None:
    assert KeySet(published[:1]).get(None) is published[0]


def test_two_keys_with_one_kid_are_refused(published: list[Key]) -> None:
    with pytest.raises(KeyFormatError):
        KeySet([published[0], published[0]])


def test_to_jwks_has_no_private_members(keys_by_alg: dict[str, Key]) -> None:
    asymmetric = [keys_by_alg[alg] for alg in ("ES256", "EdDSA", "RS256", "PS256")]

    document = KeySet(asymmetric).to_jwks()

    members = {name for jwk in document["keys"] for name in jwk}
    assert not members & {"d", "p", "q", "dp", "dq", "qi", "k"}
    assert len(document["keys"]) == 4

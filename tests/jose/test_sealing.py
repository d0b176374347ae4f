"""Private keys sealed at rest with AES-256-GCM, bound to their kid."""

from __future__ import annotations

import os

import pytest

from jwtmesh.jose import (
    KEK_BYTES,
    Key,
    KeyDecryptionError,
    KeyFormatError,
    encode,
    seal_private_key,
    unseal_private_key,
)

from ._support import NOW, claims, validator_for

KEK = bytes(range(KEK_BYTES))


def test_seal_unseal_round_trip(key: Key) -> None:
    blob = seal_private_key(key, KEK)

    opened = unseal_private_key(blob, KEK, key.kid)

    assert opened.kid == key.kid
    assert opened.private_jwk() == key.private_jwk()
    assert validator_for(key).decode(encode(claims(), opened), now=NOW)["sub"] == "ada"


def test_the_blob_does_not_contain_the_key(key: Key) -> None:
    blob = seal_private_key(key, KEK)
    secret = key.private_jwk()["k" if key.alg == "HS256" else "d"].encode()

    assert secret not in blob
    assert seal_private_key(key, KEK) != blob


def test_wrong_kek_is_a_key_decryption_error(key: Key) -> None:
    blob = seal_private_key(key, KEK)

    with pytest.raises(KeyDecryptionError):
        unseal_private_key(blob, os.urandom(KEK_BYTES), key.kid)


def test_a_blob_moved_to_another_kid_does_not_open(keys_by_alg: dict[str, Key]) -> None:
    first, second = keys_by_alg["ES256"], keys_by_alg["EdDSA"]
    blob = seal_private_key(first, KEK)

    with pytest.raises(KeyDecryptionError):
        unseal_private_key(blob, KEK, second.kid)


@pytest.mark.parametrize("where", [0, 3, 10, 20, -1])
def test_a_damaged_blob_does_not_open(keys_by_alg: dict[str, Key], where: int) -> None:
    key = keys_by_alg["ES256"]
    blob = bytearray(seal_private_key(key, KEK))
    blob[where] ^= 0x01

    with pytest.raises(KeyDecryptionError):
        unseal_private_key(bytes(blob), KEK, key.kid)


@pytest.mark.parametrize("length", [0, 3, 15, 30])
def test_a_truncated_blob_does_not_open(keys_by_alg: dict[str, Key], length: int) -> None:
    key = keys_by_alg["ES256"]
    blob = seal_private_key(key, KEK)

    with pytest.raises(KeyDecryptionError):
        unseal_private_key(blob[:length], KEK, key.kid)


def test_the_kek_must_be_32_bytes(keys_by_alg: dict[str, Key]) -> None:
    key = keys_by_alg["ES256"]

    with pytest.raises(KeyFormatError):
        seal_private_key(key, b"short")
    with pytest.raises(KeyFormatError):
        unseal_private_key(seal_private_key(key, KEK), KEK + b"x", key.kid)


def test_a_public_key_cannot_be_sealed(keys_by_alg: dict[str, Key]) -> None:
    with pytest.raises(KeyFormatError):
        seal_private_key(keys_by_alg["ES256"].public(), KEK)

"""Private keys encrypted at rest with AES-256-GCM under a key-encryption key."""

from __future__ import annotations

import os

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import KeyDecryptionError, KeyFormatError
from .keys import Key

__all__ = ["KEK_BYTES", "seal_private_key", "unseal_private_key"]

KEK_BYTES = 32
_VERSION = b"jm1"
_NONCE = 12


def _aead(kek: bytes) -> AESGCM:
    if len(kek) != KEK_BYTES:
        raise KeyFormatError(f"the key-encryption key must be {KEK_BYTES} bytes")
    return AESGCM(kek)


def seal_private_key(key: Key, kek: bytes) -> bytes:
    """Encrypt the private JWK; the ``kid`` is bound as associated data.

    Binding the ``kid`` means a sealed blob copied onto another key's row
    fails to open instead of silently signing under the wrong ``kid``.
    """
    nonce = os.urandom(_NONCE)
    plaintext = orjson.dumps(key.private_jwk())
    return _VERSION + nonce + _aead(kek).encrypt(nonce, plaintext, _VERSION + key.kid.encode())


def unseal_private_key(blob: bytes, kek: bytes, kid: str) -> Key:
    """Decrypt a blob made by :func:`seal_private_key` for ``kid``."""
    if not blob.startswith(_VERSION) or len(blob) < len(_VERSION) + _NONCE + 16:
        raise KeyDecryptionError(f"sealed key {kid} is damaged or of an unknown version")
    nonce = blob[len(_VERSION) : len(_VERSION) + _NONCE]
    try:
        plaintext = _aead(kek).decrypt(
            nonce, blob[len(_VERSION) + _NONCE :], _VERSION + kid.encode()
        )
    except InvalidTag as exc:
        raise KeyDecryptionError(
            f"cannot open sealed key {kid}: wrong key-encryption key, or the row is damaged"
        ) from exc
    key = Key.from_jwk(orjson.loads(plaintext))
    if key.kid != kid:
        raise KeyDecryptionError(f"sealed key {kid} holds another key")
    return key

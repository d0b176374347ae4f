"""One test per published advisory of a Python JOSE library, showing jwtmesh is not affected.

Each id was checked against the advisory or its fix before it was named here.
"""

from __future__ import annotations

import hmac as std_hmac
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jwtmesh.jose import (
    InsecureKeyError,
    InvalidIssuerError,
    InvalidSignatureError,
    Key,
    KeySet,
    MalformedTokenError,
    TokenTooLargeError,
    UnknownKeyError,
    UnsupportedAlgorithmError,
    UnsupportedHeaderError,
    encode,
)

from ._support import (
    ISSUER,
    NOW,
    b64,
    claims,
    header_for,
    hmac_signed,
    rejected,
    signed,
    signing_input,
    validator,
)


def _openssh(key: Key) -> bytes:
    public: Any = serialization.load_pem_public_key(key.public_pem())
    return bytes(
        public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )


def _hs256_header(key: Key) -> dict[str, Any]:
    return {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}


def _jwe_shaped(header: dict[str, Any]) -> str:
    return ".".join(
        [b64(orjson.dumps(header)), b64(b"k" * 32), b64(b"i" * 12), b64(b"c" * 64), b64(b"t" * 16)]
    )


# ------------------------------------------------------------------ PyJWT
def test_cve_2017_11424_pyjwt_pkcs1_pem_public_key_as_hmac_secret(
    issuer_keys: dict[str, Key],
) -> None:
    """PyJWT let a PKCS#1 "RSA PUBLIC KEY" PEM be used as an HS256 secret (key confusion)."""
    key = issuer_keys["RS256"]
    public: Any = serialization.load_pem_public_key(key.public_pem())
    pkcs1 = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)

    rejected(
        validator(key),
        hmac_signed(pkcs1, _hs256_header(key), claims()),
        UnsupportedAlgorithmError,
        "unsupported_alg",
    )
    with pytest.raises(InsecureKeyError):
        Key.from_secret(pkcs1)


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256"])
def test_cve_2022_29217_pyjwt_alg_confusion_with_ssh_key(
    issuer_keys: dict[str, Key], alg: str
) -> None:
    """PyJWT's HMAC blocklist missed OpenSSH ed25519/ecdsa keys: they could be HS256 secrets."""
    key = issuer_keys[alg]
    ssh = _openssh(key)

    rejected(
        validator(key),
        hmac_signed(ssh, _hs256_header(key), claims()),
        UnsupportedAlgorithmError,
        "unsupported_alg",
    )
    with pytest.raises(InsecureKeyError):
        Key.from_secret(ssh)


@pytest.mark.parametrize(
    "iss", ["https://auth", "http", "auth.example", "https://auth.example.evil"]
)
def test_cve_2024_53861_pyjwt_partial_issuer_match(es256: Key, iss: str) -> None:
    """PyJWT 2.10.0 checked ``iss`` with a substring test, so "http" matched "https://auth.example"."""
    assert iss in ISSUER or ISSUER in iss

    rejected(validator(es256), encode(claims(iss=iss), es256), InvalidIssuerError, "wrong_issuer")


def test_cve_2026_32597_pyjwt_unknown_crit_extension_accepted(es256: Key) -> None:
    """PyJWT accepted tokens whose ``crit`` header named extensions it did not understand."""
    token = signed(es256, header_for(es256, crit=["urn:example:must-check"]), claims())

    rejected(validator(es256), token, UnsupportedHeaderError, "unsupported_header")


def test_cve_2026_48526_pyjwt_public_jwk_as_hmac_secret(issuer_keys: dict[str, Key]) -> None:
    """PyJWT let the issuer's public JWK be the HMAC secret when HMAC and RSA/EC algs mixed."""
    key = issuer_keys["ES256"]
    jwk_json = orjson.dumps(key.public().public_jwk())
    oct_from_jwk = {"kty": "oct", "alg": "HS256", "k": b64(jwk_json)}

    rejected(
        validator(key),
        hmac_signed(jwk_json, _hs256_header(key), claims()),
        UnsupportedAlgorithmError,
        "unsupported_alg",
    )
    with pytest.raises(InsecureKeyError):
        Key.from_secret(jwk_json)
    with pytest.raises(InsecureKeyError):
        Key.from_jwk(oct_from_jwk)
    assert len(KeySet.from_jwks({"keys": [oct_from_jwk, key.public_jwk()]})) == 1


def test_cve_2025_45768_pyjwt_weak_hmac_and_rsa_keys() -> None:
    """PyJWT accepted HMAC secrets shorter than the hash and RSA keys under 2048 bits."""
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    with pytest.raises(InsecureKeyError):
        Key.from_secret(b"secret")
    with pytest.raises(InsecureKeyError):
        Key.from_secret(b"x" * 47, alg="HS384")
    with pytest.raises(InsecureKeyError):
        Key.from_pem(pem, alg="RS256")


# ------------------------------------------------------------------ python-jose
def test_cve_2016_7036_python_jose_hmac_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """python-jose compared HMAC signatures with ``==``, which leaks timing (not constant time)."""
    calls: list[tuple[bytes, bytes]] = []
    original = std_hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(std_hmac, "compare_digest", spy)
    key = Key.from_secret(b"s" * 32)
    token = encode(claims(), key)
    head, _ = token.rsplit(".", 1)

    rejected(validator(key), f"{head}.{b64(b'x' * 32)}", InvalidSignatureError, "bad_signature")
    assert calls == [(key.sign(head.encode()), b"x" * 32)]


def test_cve_2024_33663_python_jose_alg_confusion_with_openssh_ecdsa_key(
    issuer_keys: dict[str, Key],
) -> None:
    """python-jose allowed HMAC verification with OpenSSH ECDSA public keys (and other formats)."""
    key = issuer_keys["ES256"]
    ssh = _openssh(key)
    assert ssh.startswith(b"ecdsa-sha2-nistp256 ")

    rejected(
        validator(key),
        hmac_signed(ssh, _hs256_header(key), claims()),
        UnsupportedAlgorithmError,
        "unsupported_alg",
    )
    with pytest.raises(InsecureKeyError):
        Key.from_secret(ssh)


def test_cve_2024_33664_python_jose_jwe_zip_bomb(es256: Key) -> None:
    """python-jose decompressed JWE payloads without bound (a "JWT bomb"); jwtmesh reads no JWE."""
    jwe = _jwe_shaped({"alg": "A128KW", "enc": "A128GCM", "zip": "DEF"})
    zipped_jws = signed(es256, header_for(es256, zip="DEF"), claims())

    rejected(validator(es256), jwe, MalformedTokenError, "malformed")
    rejected(validator(es256), zipped_jws, UnsupportedHeaderError, "unsupported_header")
    rejected(validator(es256), jwe + "A" * 300_000, TokenTooLargeError, "too_large")


# ------------------------------------------------------------------ Authlib
@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_cve_2024_37568_authlib_hmac_with_asymmetric_public_key(
    issuer_keys: dict[str, Key], alg: str
) -> None:
    """Authlib, given no algorithm, verified HS256 with any asymmetric public key as the secret."""
    key = issuer_keys[alg]
    forged = hmac_signed(key.public_pem(), _hs256_header(key), claims(roles=["admin"]))

    rejected(validator(key), forged, UnsupportedAlgorithmError, "unsupported_alg")


def test_cve_2026_27962_authlib_embedded_jwk_header_trusted(es256: Key) -> None:
    """Authlib, given no key, verified with the attacker's key from the token's ``jwk`` header."""
    attacker = Key.generate("ES256")
    embedded = {"alg": "ES256", "typ": "at+jwt", "jwk": attacker.public().public_jwk()}

    rejected(
        validator(es256),
        signed(attacker, embedded, claims()),
        UnsupportedHeaderError,
        "unsupported_header",
    )
    rejected(validator(es256), encode(claims(), attacker), UnknownKeyError, "unknown_kid")


def test_cve_2025_59420_authlib_unknown_crit_header_accepted(es256: Key) -> None:
    """Authlib accepted JWS tokens whose ``crit`` header listed parameters it did not process."""
    token = signed(es256, header_for(es256, crit=["exp"], exp=NOW + 1), claims())

    rejected(validator(es256), token, UnsupportedHeaderError, "unsupported_header")


# ------------------------------------------------------------------ jwcrypto
def test_cve_2024_28102_jwcrypto_jwe_compression_ratio_dos(es256: Key) -> None:
    """jwcrypto decompressed a JWE of any compression ratio (denial of service)."""
    rejected(
        validator(es256),
        _jwe_shaped({"alg": "dir", "enc": "A256GCM", "zip": "DEF"}),
        MalformedTokenError,
        "malformed",
    )


def test_cve_2023_6681_jwcrypto_unbounded_pbes2_count(es256: Key) -> None:
    """jwcrypto ran PBKDF2 for as many rounds as a token's ``p2c`` asked (denial of service)."""
    header = {
        "alg": "PBES2-HS512+A256KW",
        "p2c": 2**31,
        "p2s": "c2FsdA",
        "typ": "at+jwt",
        "kid": es256.kid,
    }
    three = signing_input(header, claims()) + "." + b64(b"\x00" * 64)

    rejected(validator(es256), three, UnsupportedAlgorithmError, "unsupported_alg")
    rejected(
        validator(es256),
        _jwe_shaped({**header, "enc": "A256GCM"}),
        MalformedTokenError,
        "malformed",
    )


def test_cve_2022_3102_jwcrypto_jws_jwe_token_type_confusion(es256: Key) -> None:
    """jwcrypto's JWT API auto-detected JWS or JWE, so one kind could pass for the other."""
    encrypted_with_public_key = _jwe_shaped({"alg": "ECDH-ES", "enc": "A256GCM", "kid": es256.kid})
    jws_claiming_enc = signed(es256, header_for(es256, enc="A256GCM"), claims())

    rejected(validator(es256), encrypted_with_public_key, MalformedTokenError, "malformed")
    rejected(validator(es256), jws_claiming_enc, UnsupportedHeaderError, "unsupported_header")

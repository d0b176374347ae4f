"""``jwtmesh keys list | rotate | import | retire``: the functions behind the CLI."""

from __future__ import annotations

import secrets
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from jwtmesh.authority import (
    AuthoritySettings,
    KeyRingError,
    SettingsError,
    build_authority,
    import_key,
    list_keys,
    retire_key,
    rotate_keys,
)
from jwtmesh.jose import Key, decode, encode
from jwtmesh.store import KeyState, SqlStore

from .helpers import make_settings
from .test_keys_support import dump_rows


@pytest.fixture
def settings(tmp_path: Path) -> AuthoritySettings:
    """Settings of an authority that has started once (one active key)."""
    settings = make_settings(tmp_path)
    build_authority(settings).store.close()
    return settings


def _states(settings: AuthoritySettings) -> dict[str, str]:
    return {k["kid"]: k["state"] for k in list_keys(settings)}


def _active(settings: AuthoritySettings) -> str:
    [kid] = [kid for kid, state in _states(settings).items() if state == "active"]
    return kid


def test_list_keys_has_times_and_no_secrets(settings: AuthoritySettings) -> None:
    rotate_keys(settings, now=False)
    listed = list_keys(settings)
    assert [k["state"] for k in listed] == ["active", "next"]
    assert set(listed[0]) == {
        "kid",
        "alg",
        "state",
        "created",
        "activated",
        "activates",
        "retire_after",
    }
    assert listed[0]["activated"] == listed[0]["created"] and listed[0]["activates"] is None
    assert listed[1]["activated"] is None and listed[1]["activates"] > listed[1]["created"]
    text = orjson.dumps(listed).decode()
    assert '"d"' not in text and "sealed" not in text


def test_rotate_keys_schedules_or_promotes_now(settings: AuthoritySettings) -> None:
    first = _active(settings)
    later = rotate_keys(settings, now=False)
    assert later["activated"] is False and _active(settings) == first
    assert later["at"] == pytest.approx(list_keys(settings)[1]["created"] + 600.0)
    now = rotate_keys(settings, now=True)
    assert now["activated"] is True and now["kid"] == later["kid"]
    assert "unknown kid" in now["note"]
    states = _states(settings)
    assert states[first] == "retiring" and states[now["kid"]] == "active"
    assert list(states.values()).count("next") == 1  # a fresh key stands by


def test_rotate_needs_the_kek(settings: AuthoritySettings, tmp_path: Path) -> None:
    before = dump_rows(settings.database_url)
    with pytest.raises(SettingsError) as missing:
        rotate_keys(make_settings(tmp_path, kek=None), now=True)
    assert missing.value.field == "JWTMESH_KEK"
    with pytest.raises(KeyRingError, match="cannot unseal any stored signing key"):
        rotate_keys(make_settings(tmp_path, kek=secrets.token_bytes(32)), now=True)
    with pytest.raises(KeyRingError, match="cannot unseal"):
        import_key(make_settings(tmp_path, kek=secrets.token_bytes(32)), _pem(Key.generate()))
    assert dump_rows(settings.database_url) == before


def _pem(key: Key) -> bytes:
    return key.private_pem()


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_import_pem_enters_as_next(settings: AuthoritySettings, alg: str) -> None:
    key = Key.generate(alg)
    kid = import_key(settings, _pem(key), "auto", alg if alg == "PS256" else None)
    assert kid == key.kid and _states(settings)[kid] == "next"
    [row] = [k for k in list_keys(settings) if k["kid"] == kid]
    assert row["alg"] == alg


def test_import_jwk_keeps_its_kid_and_old_tokens_verify(settings: AuthoritySettings) -> None:
    previous = Key.from_jwk({**Key.generate("ES256").private_jwk(), "kid": "legacy-2024"})
    claims = {
        "iss": settings.issuer,
        "sub": "ada",
        "aud": "orders",
        "exp": 4_000_000_000,
        "iat": 1,
        "jti": "x",
    }
    old_token = encode(claims, previous)
    data = orjson.dumps(previous.private_jwk())
    assert import_key(settings, data, "jwk") == "legacy-2024"
    authority = build_authority(settings)
    keyset = authority.keyring.keyset
    authority.store.close()
    decoded = decode(
        old_token, keyset, issuer=settings.issuer, audience="orders", now=2_000_000_000
    )
    assert decoded["sub"] == "ada"


def test_import_with_activate_signs_at_once(settings: AuthoritySettings) -> None:
    first = _active(settings)
    key = Key.generate("EdDSA")
    import_key(settings, _pem(key), activate=True)
    states = _states(settings)
    assert states[key.kid] == "active" and states[first] == "retiring"
    authority = build_authority(settings)
    assert authority.keyring.signing_key.kid == key.kid
    assert authority.keyring.signing_key.private_jwk() == key.private_jwk()
    authority.store.close()


def test_import_with_a_chosen_kid(settings: AuthoritySettings) -> None:
    assert import_key(settings, _pem(Key.generate()), "pem", kid="from-old-issuer") == (
        "from-old-issuer"
    )
    with pytest.raises(KeyRingError, match="kid must be"):
        import_key(settings, _pem(Key.generate()), "pem", kid="")


def _weak_rsa_pem() -> bytes:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return weak.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _encrypted_pem() -> bytes:
    private = ec.generate_private_key(ec.SECP256R1())
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass phrase"),
    )


def _refusals() -> list[tuple[str, bytes, str]]:
    ec_key = Key.generate("ES256")
    hmac_jwk = {"kty": "oct", "k": "A" * 64, "alg": "HS256"}
    return [
        ("public PEM", ec_key.public_pem(), "public key"),
        ("public JWK", orjson.dumps(ec_key.public_jwk()), "public key"),
        ("HMAC JWK", orjson.dumps(hmac_jwk), "HMAC"),
        ("weak RSA", _weak_rsa_pem(), "2048"),
        ("ES384", _pem(Key.generate("ES384")), "ES384"),
        ("encrypted PEM", _encrypted_pem(), "encrypted"),
        ("JWK set", orjson.dumps({"keys": [ec_key.private_jwk()]}), "one key at a time"),
        ("garbage", b"hello", "cannot tell the key format"),
        ("bad JSON", b"{not json", "does not parse"),
        ("RSA JWK without alg", orjson.dumps(_without_alg(Key.generate("RS256"))), "alg"),
    ]


def _without_alg(key: Key) -> dict[str, object]:
    jwk = key.private_jwk()
    del jwk["alg"]
    return jwk


@pytest.mark.parametrize(
    ("case", "data", "reason"), _refusals(), ids=[c for c, _, _ in _refusals()]
)
def test_import_refuses_unusable_keys(
    settings: AuthoritySettings, case: str, data: bytes, reason: str
) -> None:
    before = dump_rows(settings.database_url)
    with pytest.raises(KeyRingError) as caught:
        import_key(settings, data)
    message = str(caught.value)
    assert reason in message, case
    for line in data.splitlines()[1:-1]:  # no line of a PEM body, no JWK value
        assert line.decode(errors="replace") not in message
    assert dump_rows(settings.database_url) == before


def test_import_refuses_a_duplicate_kid(settings: AuthoritySettings) -> None:
    key = Key.generate("ES256")
    import_key(settings, _pem(key))
    with pytest.raises(KeyRingError, match=f"kid {key.kid} exists"):
        import_key(settings, orjson.dumps(key.private_jwk()))
    with pytest.raises(KeyRingError, match="exists"):
        import_key(settings, b"\n" + _pem(key), "auto")


def test_retire_key(settings: AuthoritySettings) -> None:
    first = _active(settings)
    with pytest.raises(KeyRingError, match=r"only active key.*rotate --now"):
        retire_key(settings, first)
    scheduled = rotate_keys(settings, now=False)["kid"]
    retire_key(settings, scheduled)
    assert _states(settings)[scheduled] == "retired"
    rotate_keys(settings, now=True)
    assert _states(settings)[first] == "retiring"
    retire_key(settings, first)
    store = SqlStore.open(settings.database_url)
    [row] = [k for k in store.list_signing_keys() if k.kid == first]
    store.close()
    assert row.state is KeyState.RETIRED and row.sealed_private_key == b""
    with pytest.raises(KeyRingError, match="already retired"):
        retire_key(settings, first)
    with pytest.raises(KeyRingError, match="no signing key with kid nope"):
        retire_key(settings, "nope")


def test_retired_kid_cannot_come_back(settings: AuthoritySettings) -> None:
    key = Key.generate("ES256")
    import_key(settings, _pem(key))
    retire_key(settings, key.kid)
    with pytest.raises(KeyRingError, match="exists"):
        import_key(settings, _pem(key))

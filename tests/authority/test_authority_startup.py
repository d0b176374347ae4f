"""Settings from the environment, KEK handling at start-up, the key ring, CLI functions."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from jwtmesh.authority import (
    AuthoritySettings,
    KeyRing,
    SettingsError,
    StartupError,
    add_client,
    add_public_client,
    add_user,
    build_authority,
    create_app,
)
from jwtmesh.store import AlreadyExistsError, KeyState, SqlStore

from .helpers import PASSWORD, make_settings


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_defaults_from_empty_environment() -> None:
    settings = AuthoritySettings.from_env({})
    assert settings.database_url == "sqlite:///./jwtmesh.db"
    assert settings.access_ttl == 300 and settings.refresh_ttl == 8 * 3600
    assert settings.signing_alg == "ES256" and settings.kek is None
    assert settings.max_body_bytes == 64 * 1024 and settings.refresh_reuse_grace == 5.0


def test_values_from_environment(tmp_path: Path) -> None:
    kek = secrets.token_bytes(32)
    settings = AuthoritySettings.from_env(
        {
            "JWTMESH_ISSUER": "https://auth.example",
            "JWTMESH_ACCESS_TTL": "60",
            "JWTMESH_EMBED_PERMISSIONS": "true",
            "JWTMESH_KEK": _b64(kek),
            "JWTMESH_DEFAULT_AUDIENCES": "a, b c",
            "JWTMESH_POLICY_FILE": str(tmp_path / "p.toml"),
        }
    )
    assert settings.issuer == "https://auth.example" and settings.access_ttl == 60
    assert settings.embed_permissions is True and settings.kek == kek
    assert settings.default_audiences == ("a", "b", "c")
    assert settings.policy_file == tmp_path / "p.toml"
    assert _b64(kek) not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JWTMESH_ACCESS_TTL", "soon"),
        ("JWTMESH_ACCESS_TTL", "0"),
        ("JWTMESH_REFRESH_TTL", "-5"),
        ("JWTMESH_ISSUER", "ftp://x"),
        ("JWTMESH_ISSUER", "https://x/?q=1"),
        ("JWTMESH_SIGNING_ALG", "HS256"),
        ("JWTMESH_EMBED_PERMISSIONS", "maybe"),
        ("JWTMESH_MAX_BODY_BYTES", "1.5"),
        ("JWTMESH_DATABASE_URL", "mysql://x"),
        ("JWTMESH_KEK", "too-short"),
        ("JWTMESH_KEK", "!!!not base64!!!"),
        ("JWTMESH_LOG_LEVEL", "loud"),
    ],
)
def test_bad_value_names_the_field(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        AuthoritySettings.from_env({name: value})
    assert caught.value.field == name
    assert name in str(caught.value)
    if name == "JWTMESH_KEK":
        assert value not in str(caught.value)


def test_kek_from_file(tmp_path: Path) -> None:
    kek = secrets.token_bytes(32)
    path = tmp_path / "kek"
    path.write_text(_b64(kek) + "\n")
    assert AuthoritySettings.from_env({"JWTMESH_KEK_FILE": str(path)}).kek == kek
    with pytest.raises(SettingsError) as both:
        AuthoritySettings.from_env({"JWTMESH_KEK_FILE": str(path), "JWTMESH_KEK": _b64(kek)})
    assert both.value.field == "JWTMESH_KEK_FILE"
    with pytest.raises(SettingsError) as missing:
        AuthoritySettings.from_env({"JWTMESH_KEK_FILE": str(tmp_path / "absent")})
    assert missing.value.field == "JWTMESH_KEK_FILE"


def test_missing_kek_stops_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, kek=None)
    with pytest.raises(StartupError, match="JWTMESH_KEK"):
        create_app(settings)
    with pytest.raises(SettingsError, match="JWTMESH_KEK"):
        add_client(settings, "svc", ["orders"])


def test_wrong_kek_stops_start_and_changes_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    build_authority(settings).store.close()
    store = SqlStore.open(settings.database_url)
    before = store.list_signing_keys()
    wrong = make_settings(tmp_path, kek=secrets.token_bytes(32))
    with pytest.raises(StartupError, match="cannot unseal"):
        create_app(wrong)
    assert store.list_signing_keys() == before and len(before) == 1
    store.close()


def test_restart_keeps_the_signing_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    first = build_authority(settings)
    kid = first.keyring.signing_key.kid
    first.store.close()
    second = build_authority(settings)
    assert second.keyring.signing_key.kid == kid
    second.store.close()


def test_bad_policy_file_stops_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[roles.x\n")
    with pytest.raises(StartupError, match="JWTMESH_POLICY_FILE"):
        build_authority(make_settings(tmp_path, policy_file=bad))


def test_key_ring_rotation(tmp_path: Path) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path}/keys.db")
    kek = secrets.token_bytes(32)
    now = [1000.0]
    ring = KeyRing(store, kek, "ES256", clock=lambda: now[0])
    ring.load()
    first = ring.signing_key.kid
    second = ring.rotate(retire_after=600)
    assert second != first and ring.signing_key.kid == second
    states = ring.states()
    assert states[first] is KeyState.RETIRING
    assert sorted(s.value for s in states.values()) == ["active", "next", "retiring"]
    assert len(ring.jwks()["keys"]) == 3
    now[0] += 700
    third = ring.rotate(retire_after=600)
    assert first not in ring.states() and third not in (first, second)
    assert [k.state for k in store.list_signing_keys() if k.kid == first] == [KeyState.RETIRED]
    reloaded = KeyRing(store, kek, "ES256")
    reloaded.load()
    assert reloaded.signing_key.kid == third
    store.close()


def test_add_user_and_client_validation(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    user = add_user(settings, "dave", PASSWORD, ["customer"])
    assert user.username == "dave" and user.password_hash.startswith("$argon2id$")
    with pytest.raises(AlreadyExistsError):
        add_user(settings, "dave", PASSWORD, [])
    secret = add_client(settings, "svc", ["orders"], ["client_credentials"])
    assert len(secret) >= 43
    with pytest.raises(ValueError, match="unknown grant types: password"):
        add_client(settings, "svc2", ["orders"], ["password"])
    with pytest.raises(ValueError, match="public client"):
        add_public_client(settings, "web2", ["orders"], ["client_credentials"])
    store = SqlStore.open(settings.database_url)
    stored = store.get_client("svc")
    store.close()
    assert stored is not None and stored.secret_digest is not None
    assert secret.encode() not in stored.secret_digest and len(stored.secret_digest) == 32

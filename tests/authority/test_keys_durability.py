"""Keys survive kill -9; a wrong or missing KEK and damaged rows stop start-up cleanly.

Every test runs on SQLite and on PostgreSQL, against ``serve()`` in a child process.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from jwtmesh.authority import (
    AuthoritySettings,
    KeyRingError,
    StartupError,
    add_user,
    build_authority,
    create_app,
    import_key,
    rotate_keys,
)
from jwtmesh.jose import Key, KeySet, decode, unseal_private_key
from jwtmesh.store import KeyState, SqlStore
from support.postgres import pg_database

from .helpers import PASSWORD, ServerThread, make_settings
from .test_keys_support import (
    SERVE,
    ServedAuthority,
    authority_env,
    b64,
    dump_rows,
    free_port,
    set_sealed_blob,
)

PRIVATE = ("d", "p", "q", "dp", "dq", "qi")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database of each kind for one test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/authority.db"
        return
    with pg_database("jwtmesh_keys_durable") as url:
        yield url


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as reply:
        body: bytes = reply.read()
        return body


def _login(base_url: str) -> str:
    body = orjson.dumps({"username": "alice", "password": PASSWORD})
    request = urllib.request.Request(
        base_url + "/login", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        token: str = orjson.loads(reply.read())["access_token"]
        return token


def _kid(token: str) -> str:
    head = token.split(".")[0]
    kid: str = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
    return kid


def _login_with(base_url: str, kid: str, timeout: float = 10.0) -> str:
    """Log in until the token is signed by ``kid`` (the authority's tick picks rotations up)."""
    deadline = time.monotonic() + timeout
    while True:
        token = _login(base_url)
        if _kid(token) == kid:
            return token
        assert time.monotonic() < deadline, "the authority did not switch to the new key"
        time.sleep(0.1)


def _private_values(settings: AuthoritySettings) -> list[str]:
    """Every private member of every key the database holds (to look for leaks)."""
    assert settings.kek is not None
    store = SqlStore.open(settings.database_url)
    try:
        records = [r for r in store.list_signing_keys() if r.sealed_private_key]
    finally:
        store.close()
    values = []
    for record in records:
        jwk = unseal_private_key(record.sealed_private_key, settings.kek, record.kid).private_jwk()
        values += [jwk[name] for name in PRIVATE if name in jwk]
    return values


def test_kill_and_restart_loses_no_key(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=db_url)
    assert settings.kek is not None
    env = authority_env(db_url, b64(settings.kek))
    first = ServedAuthority(env, tmp_path / "authority.log")
    try:
        first.wait_healthy()
        add_user(settings, "alice", PASSWORD, ["customer"])
        old_token = _login(first.base_url)
        rotated = rotate_keys(settings, now=True)
        new_token = _login_with(first.base_url, rotated["kid"])
        jwks_before = orjson.loads(_get(first.base_url + "/.well-known/jwks.json"))
        rows_before = dump_rows(db_url)
    finally:
        first.kill()
    assert first.proc.returncode == -9
    second = ServedAuthority(env, tmp_path / "authority.log")
    try:
        second.wait_healthy()
        jwks_after = orjson.loads(_get(second.base_url + "/.well-known/jwks.json"))
        assert jwks_after == jwks_before and len(jwks_after["keys"]) == 3
        keys = KeySet.from_jwks(jwks_after)
        for token in (old_token, new_token):
            assert decode(token, keys, issuer=settings.issuer, audience="orders")["sub"] == "alice"
        assert _kid(_login(second.base_url)) == rotated["kid"]
        assert dump_rows(db_url)["signing_keys"] == rows_before["signing_keys"]
    finally:
        second.stop()
    log = (tmp_path / "authority.log").read_text()
    assert "rotated" in log or "key ring" in log or "signing key" in log
    for value in _private_values(settings):
        assert value not in log


def _prepared(db_url: str, tmp_path: Path) -> tuple[AuthoritySettings, dict[str, str]]:
    """An authority that started once and rotated: one key of each live state."""
    settings = make_settings(tmp_path, database_url=db_url)
    authority = build_authority(settings)
    authority.keyring.request_rotation(now=True)
    states = {kid: str(state) for kid, state in authority.keyring.states().items()}
    authority.store.close()
    assert sorted(states.values()) == ["active", "next", "retiring"]
    return settings, {state: kid for kid, state in states.items()}


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SERVE, str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_wrong_or_missing_kek_stops_start_and_changes_nothing(db_url: str, tmp_path: Path) -> None:
    settings, kids = _prepared(db_url, tmp_path)
    assert settings.kek is not None
    before = dump_rows(db_url)
    wrong = b64(secrets.token_bytes(32))
    failed = _start(authority_env(db_url, wrong))
    assert failed.returncode != 0
    assert "StartupError" in failed.stderr and "cannot unseal" in failed.stderr
    assert "JWTMESH_KEK" in failed.stderr and all(kid in failed.stderr for kid in kids.values())
    assert wrong not in failed.stderr and b64(settings.kek) not in failed.stderr
    missing = _start(authority_env(db_url, None))
    assert missing.returncode != 0
    assert "StartupError" in missing.stderr and "no key-encryption key" in missing.stderr
    assert dump_rows(db_url) == before


@pytest.mark.parametrize("state", ["next", "active", "retiring"])
def test_damaged_key_row_stops_start_naming_the_kid(
    db_url: str, tmp_path: Path, state: str
) -> None:
    settings, kids = _prepared(db_url, tmp_path)
    assert settings.kek is not None
    store = SqlStore.open(db_url)
    [row] = [r for r in store.list_signing_keys() if r.kid == kids[state]]
    store.close()
    damaged = bytearray(row.sealed_private_key)
    damaged[-5] ^= 0x01
    set_sealed_blob(db_url, kids[state], bytes(damaged))
    before = dump_rows(db_url)
    failed = _start(authority_env(db_url, b64(settings.kek)))
    assert failed.returncode != 0
    assert f"signing key {kids[state]} ({state}) cannot be unsealed" in failed.stderr
    assert "damaged" in failed.stderr and "nothing was changed" in failed.stderr
    assert dump_rows(db_url) == before  # the damaged row was not overwritten
    with pytest.raises(StartupError, match=kids[state]):
        build_authority(settings)
    assert dump_rows(db_url) == before


def _leaks(text: str, secrets_: list[str]) -> list[str]:
    return [value[:6] + "..." for value in secrets_ if value in text]


def test_private_keys_never_in_jwks_logs_or_errors(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(
        tmp_path, database_url=db_url, key_tick_interval=0.1, jwks_max_age=1, key_publish_ahead=2
    )
    imported = Key.generate("RS256")
    errors: list[str] = []
    with ServerThread(create_app(settings)) as server:
        base = f"http://127.0.0.1:{server.port}"
        rotate_keys(settings, now=True)
        import_key(settings, imported.private_pem(), activate=True)
        rotate_keys(settings, now=False)
        for data in (imported.private_pem(), b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END"):
            with pytest.raises(KeyRingError) as caught:
                import_key(settings, data)
            errors.append(str(caught.value))
        time.sleep(0.5)  # a few ticks
        jwks = _get(base + "/.well-known/jwks.json").decode()
    wrong = make_settings(tmp_path, database_url=db_url, kek=secrets.token_bytes(32))
    with pytest.raises(StartupError) as startup:
        create_app(wrong)
    errors.append(str(startup.value))
    private = [*_private_values(settings), imported.private_jwk()["d"]]
    assert len(orjson.loads(jwks)["keys"]) >= 3
    for name in PRIVATE:
        assert f'"{name}":' not in jwks
    assert _leaks(jwks, private) == []
    assert _leaks(caplog.text, private) == [] and "imported signing key" in caplog.text
    assert _leaks("\n".join(errors), private) == []
    pem_body = b"".join(imported.private_pem().splitlines()[1:-1]).decode()
    assert pem_body[:40] not in caplog.text and pem_body[:40] not in "\n".join(errors)


def test_retired_rows_keep_no_private_key(db_url: str, tmp_path: Path) -> None:
    _, kids = _prepared(db_url, tmp_path)
    store = SqlStore.open(db_url)
    try:
        retiring = kids["retiring"]
        [row] = [r for r in store.list_signing_keys() if r.kid == retiring]
        retired = dataclasses.replace(row, state=KeyState.RETIRED)
        assert store.transition_signing_keys(((KeyState.RETIRING, retired),))
        assert not store.transition_signing_keys(((KeyState.RETIRING, retired),))
        stored = store.get_signing_key(retiring)
    finally:
        store.close()
    assert stored is not None and stored.state is KeyState.RETIRED
    assert stored.sealed_private_key == b"" and stored.public_jwk["kid"] == retiring

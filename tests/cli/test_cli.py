"""The ``jwtmesh`` command end to end on a temporary SQLite database."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jwtmesh.cli import app
from jwtmesh.jose import Key

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return {"JWTMESH_KEK": kek, "JWTMESH_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"}


def _keys(env: dict[str, str]) -> list[dict[str, object]]:
    result = runner.invoke(app, ["keys", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    keys: list[dict[str, object]] = json.loads(result.stdout)
    return keys


def test_users_and_clients_are_added_and_the_secret_is_printed_once(
    env: dict[str, str],
) -> None:
    added = runner.invoke(
        app,
        ["users", "add", "ada", "--roles", "admin", "--password-stdin"],
        input="pw-123456\n",
        env=env,
    )
    assert added.exit_code == 0, added.output
    again = runner.invoke(
        app, ["users", "add", "ada", "--password-stdin"], input="pw-123456\n", env=env
    )
    assert again.exit_code == 2
    assert "already exists" in again.output
    client = runner.invoke(app, ["clients", "add", "orders", "--audiences", "catalog"], env=env)
    assert client.exit_code == 0, client.output
    secret = client.stdout.strip().splitlines()[-1]
    assert len(secret) >= 43


def test_rotate_now_then_import_and_retire(env: dict[str, str], tmp_path: Path) -> None:
    assert runner.invoke(app, ["keys", "rotate", "--now"], env=env).exit_code == 0
    assert [k["state"] for k in _keys(env)].count("active") == 1
    pem = tmp_path / "old.pem"
    old = Key.generate("EdDSA")
    pem.write_bytes(old.private_pem())
    imported = runner.invoke(app, ["keys", "import", str(pem)], env=env)
    assert imported.exit_code == 0, imported.output
    assert {"kid": old.kid, "state": "next"}.items() <= next(
        k for k in _keys(env) if k["kid"] == old.kid
    ).items()
    retired = runner.invoke(app, ["keys", "retire", old.kid], env=env)
    assert retired.exit_code == 0, retired.output
    assert next(k for k in _keys(env) if k["kid"] == old.kid)["state"] == "retired"


def test_importing_a_public_key_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    pem = tmp_path / "pub.pem"
    pem.write_bytes(Key.generate("ES256").public_pem())
    result = runner.invoke(app, ["keys", "import", str(pem)], env=env)
    assert result.exit_code == 2
    assert "public key" in result.output


def test_a_bad_setting_is_named_and_exits_2(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["keys", "list"], env={**env, "JWTMESH_ACCESS_TTL": "soon"})
    assert result.exit_code == 2
    assert "JWTMESH_ACCESS_TTL" in result.output


def test_missing_kek_is_a_clear_error_for_commands_that_seal(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["keys", "rotate"], env={**env, "JWTMESH_KEK": ""})
    assert result.exit_code == 2
    assert "JWTMESH_KEK" in result.output


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["users", "add", "ada", "--password-stdin"], "short\n", "at least 8"),
        (["users", "add", "bad name/x", "--password-stdin"], "long-enough-1\n", "a username"),
        (["clients", "add", "svc", "--audiences", ""], "", "at least one audience"),
        (["clients", "add", "svc", "--audiences", "a", "--scopes", "x y"], "", "no spaces"),
    ],
)
def test_bad_cli_input_is_refused_with_a_reason(
    env: dict[str, str], args: list[str], stdin: str, message: str
) -> None:
    result = runner.invoke(app, args, input=stdin, env=env)
    assert result.exit_code == 2
    assert message in result.output


def test_serve_without_an_issuer_names_its_own_address(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import jwtmesh.authority

    seen: list[str] = []
    monkeypatch.setattr(jwtmesh.authority, "serve", lambda s, *a, **k: seen.append(s.issuer))
    monkeypatch.delenv("JWTMESH_ISSUER", raising=False)
    result = runner.invoke(app, ["authority", "serve", "--port", "8123"], env=env)
    assert result.exit_code == 0, result.output
    assert seen == ["http://127.0.0.1:8123"]
    given = runner.invoke(
        app, ["authority", "serve"], env={**env, "JWTMESH_ISSUER": "https://auth.example"}
    )
    assert given.exit_code == 0
    assert seen[-1] == "https://auth.example"


def test_import_refuses_odd_kids_and_known_key_material(
    env: dict[str, str], tmp_path: Path
) -> None:
    pem = tmp_path / "k.pem"
    pem.write_bytes(Key.generate("ES256").private_pem())
    odd = runner.invoke(app, ["keys", "import", str(pem), "--kid", "../../evil"], env=env)
    assert odd.exit_code == 2
    assert "a kid is" in odd.output
    assert runner.invoke(app, ["keys", "import", str(pem)], env=env).exit_code == 0
    twice = runner.invoke(app, ["keys", "import", str(pem), "--kid", "again"], env=env)
    assert twice.exit_code == 2
    assert "exists with this key material" in twice.output


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sqlite:////nonexistent/dir/a.db", "unable to open database file"),
        ("postgresql+psycopg://u:hunter2secret@127.0.0.1:1/x", "Connection refused"),
    ],
)
def test_database_errors_say_why_without_the_password(
    env: dict[str, str], url: str, reason: str
) -> None:
    result = runner.invoke(app, ["keys", "list"], env={**env, "JWTMESH_DATABASE_URL": url})
    assert result.exit_code == 2
    assert reason in result.output
    assert "hunter2secret" not in result.output

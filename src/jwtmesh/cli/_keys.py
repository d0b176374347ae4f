"""``jwtmesh keys``: the authority's signing key ring."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ._app import app, console, fail, settings

keys_app = typer.Typer(help="The authority's signing key ring.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _when(value: Any) -> str:
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(float(value), dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every stored key: kid, algorithm, state (next, active, retiring, retired) and times."""
    from jwtmesh.authority import ConfigError, list_keys

    try:
        rows = list_keys(settings())
    except ConfigError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table()
    for name in ("alg", "state"):
        table.add_column(name, no_wrap=True, min_width=8)
    for name in ("created", "activated", "activates", "retire after"):
        table.add_column(name, overflow="fold")
    table.add_column("kid", overflow="fold", min_width=12)
    for row in rows:
        table.add_row(
            row["alg"],
            row["state"],
            _when(row.get("created")),
            _when(row.get("activated")),
            _when(row.get("activates")),
            _when(row.get("retire_after")),
            row["kid"],
        )
    console.print(table)


@keys_app.command("rotate")
def keys_rotate(
    now: Annotated[
        bool,
        typer.Option(
            "--now", help="Promote at once (guards with a stale JWKS refetch on the new kid)."
        ),
    ] = False,
) -> None:
    """Rotate: promote a next key published long enough, or schedule one."""
    from jwtmesh.authority import ConfigError, KeyRingError, rotate_keys

    try:
        result = rotate_keys(settings(), now=now)
    except (ConfigError, KeyRingError) as exc:
        fail(str(exc))
    console.print_json(data=result)


@keys_app.command("import")
def keys_import(
    path: Annotated[
        Path, typer.Argument(help="A private key: PEM (PKCS#8 or SEC1/PKCS#1) or JWK.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="pem, jwk or auto.")] = "auto",
    alg: Annotated[str | None, typer.Option(help="ES256, EdDSA, RS256 or PS256.")] = None,
    activate: Annotated[bool, typer.Option(help="Sign with it at once.")] = False,
    kid: Annotated[str | None, typer.Option(help="Override the key id.")] = None,
) -> None:
    """Import an existing private key, so tokens of a previous issuer keep verifying."""
    from jwtmesh.authority import ConfigError, KeyRingError, import_key

    if fmt not in ("pem", "jwk", "auto"):
        fail("--format must be pem, jwk or auto")
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    try:
        new_kid = import_key(settings(), data, fmt, alg=alg, activate=activate, kid=kid)  # type: ignore[arg-type]
    except (ConfigError, KeyRingError) as exc:
        fail(str(exc))
    console.print(f"imported key [bold]{new_kid}[/bold] ({'active' if activate else 'next'})")


@keys_app.command("retire")
def keys_retire(kid: str) -> None:
    """Retire a next or retiring key now (never the only active one)."""
    from jwtmesh.authority import ConfigError, KeyRingError, retire_key

    try:
        retire_key(settings(), kid)
    except (ConfigError, KeyRingError) as exc:
        fail(str(exc))
    console.print(f"retired key [bold]{kid}[/bold]")

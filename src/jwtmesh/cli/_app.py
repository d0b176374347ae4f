"""Typer application.  Heavy imports happen inside each command, so ``--help`` is instant."""

from __future__ import annotations

import getpass
import re
import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from jwtmesh.authority import AuthoritySettings

app = typer.Typer(
    name="jwtmesh",
    help="JWT security for Python microservices: authority, guard, demo shop and benchmark.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
authority_app = typer.Typer(help="The token service.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts of the authority.", no_args_is_help=True)
clients_app = typer.Typer(help="OAuth clients (services) of the authority.", no_args_is_help=True)
app.add_typer(authority_app, name="authority")
app.add_typer(users_app, name="users")
app.add_typer(clients_app, name="clients")

console = Console()
err = Console(stderr=True)

CommaList = Annotated[str, typer.Option(help="Comma-separated list.")]
USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,200}")
MIN_PASSWORD = 8


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def split(value: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [item.strip() for item in value.split(",") if item.strip()]


def settings() -> AuthoritySettings:
    """The authority's settings from ``JWTMESH_*``, or a clean exit naming the field."""
    from jwtmesh.authority import AuthoritySettings, ConfigError

    try:
        return AuthoritySettings.from_env()
    except ConfigError as exc:
        fail(f"configuration: {exc}")


# ------------------------------------------------------------------ authority
@authority_app.command("serve")
def authority_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    log_level: Annotated[str | None, typer.Option(help="Log level.")] = None,
) -> None:
    """Run the authority (uvicorn, one process) with settings from JWTMESH_* variables.

    Without ``JWTMESH_ISSUER`` the issuer is this server's own ``http://HOST:PORT``,
    so the discovery document and every token name where it really listens.
    """
    import dataclasses
    import os

    from jwtmesh.authority import ConfigError, serve

    chosen = settings()
    if "JWTMESH_ISSUER" not in os.environ:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        chosen = dataclasses.replace(chosen, issuer=f"http://{shown}:{port}")
    try:
        serve(chosen, host, port, log_level=log_level)
    except ConfigError as exc:
        fail(str(exc))


# ---------------------------------------------------------------------- users
@users_app.command("add")
def users_add(
    username: str,
    roles: CommaList = "user",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user with an argon2id password hash (the password is prompted for)."""
    from jwtmesh.authority import ConfigError
    from jwtmesh.authority import add_user as add
    from jwtmesh.store import AlreadyExistsError

    if not USERNAME.fullmatch(username):
        fail("a username is 1 to 200 of: letters, digits, '.', '_', '-', '@'")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass()
        if getpass.getpass("Repeat: ") != password:
            fail("the passwords differ")
    if len(password) < MIN_PASSWORD:
        fail(f"a password needs at least {MIN_PASSWORD} characters")
    try:
        add(settings(), username, password, split(roles))
    except AlreadyExistsError:
        fail(f"user {username!r} already exists")
    except (ValueError, ConfigError) as exc:
        fail(str(exc))
    console.print(f"added user [bold]{username}[/bold] with roles {split(roles)}")


# -------------------------------------------------------------------- clients
@clients_app.command("add")
def clients_add(
    client_id: str,
    audiences: CommaList,
    grant_types: CommaList = "client_credentials",
    scopes: CommaList = "",
    roles: CommaList = "",
) -> None:
    """Register a confidential client; its generated secret is printed once."""
    from jwtmesh.authority import ConfigError
    from jwtmesh.authority import add_client as add
    from jwtmesh.store import AlreadyExistsError

    if not USERNAME.fullmatch(client_id):
        fail("a client id is 1 to 200 of: letters, digits, '.', '_', '-', '@'")
    if not split(audiences):
        fail("--audiences needs at least one audience")
    for name, values in (("--audiences", audiences), ("--scopes", scopes), ("--roles", roles)):
        if any(any(c.isspace() for c in item) for item in split(values)):
            fail(f"{name}: items are separated by commas and contain no spaces")
    try:
        secret = add(
            settings(), client_id, split(audiences), split(grant_types), split(scopes), split(roles)
        )
    except AlreadyExistsError:
        fail(f"client {client_id!r} already exists")
    except (ValueError, ConfigError) as exc:
        fail(str(exc))
    err.print(f"added client [bold]{client_id}[/bold]; its secret (shown once) is on stdout")
    print(secret)


def main() -> None:
    """Console-script entry point."""
    app()

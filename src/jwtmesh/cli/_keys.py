"""``jwtmesh keys``: the authority's signing key ring."""

from __future__ import annotations

import typer

from ._app import app

keys_app = typer.Typer(help="The authority's signing key ring.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

"""``jwtmesh demo`` and ``jwtmesh demo up``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import app

demo_app = typer.Typer(help="The sample shop: an authority and four guarded services.")
app.add_typer(demo_app, name="demo")


@demo_app.callback(invoke_without_command=True)
def demo(ctx: typer.Context) -> None:
    """Start the shop, run the scripted scenario, print the table, stop (exit 1 on a mismatch)."""
    if ctx.invoked_subcommand is not None:
        return
    from jwtmesh.demo import run_scenario_demo

    raise typer.Exit(run_scenario_demo())


@demo_app.command("up")
def demo_up(
    info: Annotated[
        Path | None, typer.Option("--info", help="Also write URLs and accounts as JSON here.")
    ] = None,
) -> None:
    """Keep the shop running for trying it by hand; Ctrl-C or SIGTERM stops it."""
    from jwtmesh.demo import demo_up as up

    raise typer.Exit(up(info))

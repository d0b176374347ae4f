"""``jwtmesh bench``: the experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import app, fail, split


@app.command("bench")
def bench(
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("results"),
    quick: Annotated[bool, typer.Option(help="A smoke run of under a minute.")] = False,
    only: Annotated[str, typer.Option(help="Comma-separated section names.")] = "",
) -> None:
    """Measure generation, size, validation and JWT vs sessions vs introspection."""
    from jwtmesh.bench import run

    try:
        run(out, quick=quick, only=set(split(only)) or None)
    except ValueError as exc:
        fail(str(exc))

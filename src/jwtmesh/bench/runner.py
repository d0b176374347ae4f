"""Run the selected sections, then write results, charts and reports into one folder.

Adding a section (the HTTP ones: ``token_endpoint``, ``http``, ``availability``,
``scaleout``): write ``bench/<name>.py`` with a ``run_<name>(ctx) -> SectionResult``
and ``SECTION = Section(name, title, run_<name>, needs_servers=True)``, and add
it to the tuple registered below, in run order. Size loops with ``ctx.pick``,
report progress with ``ctx.task``, share started processes between sections
with ``ctx.resource`` (closed when the run ends), and fill the row shapes and
summary keys that :mod:`.charts` and :mod:`.verdicts` document: the charts and
verdicts then appear without further changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import (
    availability,
    charts,
    generation,
    modes,
    report,
    scaleout,
    sizes,
    token_endpoint,
    validation,
)
from ._context import Context, Section
from ._machine import describe_machine
from ._model import Results, SectionResult
from .verdicts import DOES_NOT_HOLD, HOLDS, NOT_MEASURED, PARTLY, evaluate

__all__ = ["SECTIONS", "register", "run"]

logger = logging.getLogger(__name__)

# Run order. Sections that need servers register here too (see ``register``).
SECTIONS: dict[str, Section] = {}


def register(section: Section) -> Section:
    """Add ``section`` to the run order (last); its name must be new."""
    if section.name in SECTIONS:
        raise ValueError(f"section {section.name!r} is already registered")
    SECTIONS[section.name] = section

    return section


for _section in (
    generation.SECTION,
    sizes.SECTION,
    validation.SECTION,
    token_endpoint.SECTION,
    modes.SECTION,
    scaleout.SECTION,
    availability.SECTION,  # last: it stops the backends the other HTTP sections use
):
    register(_section)


def _select(only: Iterable[str] | None) -> list[Section]:
    if only is None:
        return list(SECTIONS.values())
    unknown = set(only) - set(SECTIONS)
    if unknown:
        known = ", ".join(SECTIONS)
        raise ValueError(f"unknown section(s) {', '.join(sorted(unknown))}; known: {known}")

    return [s for s in SECTIONS.values() if s.name in only]


def _run_one(ctx: Context, section: Section) -> SectionResult:
    start = time.perf_counter()
    try:
        result = section.run(ctx)
    except Exception as exc:
        # One broken section must not lose the others' numbers; the report shows the failure.
        logger.exception("bench section %s failed", section.name)
        result = SectionResult(
            name=section.name,
            title=section.title,
            method="",
            summary={"failed": True},
            notes=[f"Section failed: {type(exc).__name__}: {exc}"],
        )
    result.seconds = time.perf_counter() - start

    return result


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run(
    out_dir: Path | str,
    quick: bool = False,
    only: set[str] | None = None,
    *,
    console: Console | None = None,
) -> Results:
    """Run the benchmark into ``out_dir`` and return what was measured.

    ``quick`` shrinks every loop (a CI smoke test); ``only`` names the
    sections to run (default: all registered). Writes ``results.json``,
    ``results.csv``, one PNG per chart with data, ``report.md`` and
    ``report.html``, then prints a one-screen summary.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    console = console or Console()
    selected = _select(only)
    results = Results(_now(), "", quick, describe_machine())
    with ExitStack() as stack, _progress(console) as progress:
        ctx = Context(quick=quick, out_dir=out, console=console, progress=progress, stack=stack)
        for section in selected:
            results.sections[section.name] = _run_one(ctx, section)
    results.finished_at = _now()
    images = charts.render_all(results, out)
    results.write_json(out / "results.json")
    results.write_csv(out / "results.csv")
    report.write_reports(results, images, out)
    console.print(summary_table(results))
    console.print(f"Results, charts and reports in {out}")

    return results


def summary_table(results: Results) -> Table:
    """The one-screen summary: each measured claim and its verdict; the rest on one line."""
    table = Table(title="jwtmesh bench: claims and verdicts")
    table.add_column("Claim", overflow="fold", ratio=3)
    table.add_column("Measured", overflow="fold", ratio=3)
    table.add_column("Verdict", no_wrap=True)
    styles = {HOLDS: "green", DOES_NOT_HOLD: "red", PARTLY: "yellow"}
    missing = []
    for verdict in evaluate(results):
        if verdict.status == NOT_MEASURED:
            missing.append(verdict.claim.short)
            continue
        style = styles.get(verdict.status, "dim")
        table.add_row(verdict.claim.short, verdict.evidence, f"[{style}]{verdict.status}[/]")
    if missing:
        table.add_row(f"{len(missing)} more claims", "sections not run", f"[dim]{NOT_MEASURED}[/]")

    return table

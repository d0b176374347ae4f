"""The report, written twice from one outline: Markdown and self-contained HTML.

The outline is a list of blocks (heading, paragraph, list, table, image);
each writer renders them. HTML inlines the charts as base64 PNG data URIs.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ._model import Results, SectionResult
from .charts import ChartFile
from .verdicts import NOT_MEASURED, Verdict, evaluate

__all__ = ["build_outline", "render_html", "render_markdown", "write_reports"]

# Every section the full benchmark has, in report order (the HTTP ones may not exist yet).
ALL_SECTIONS = {
    "generation": "Token generation (in-process signing)",
    "token_endpoint": "Token endpoint under load",
    "sizes": "Token size per role, algorithm and claim style",
    "validation": "Validation cost (in-process)",
    "http": "Modes over HTTP",
    "availability": "Availability with the authority or Redis stopped",
    "scaleout": "Scale-out: one vs two service processes",
}


@dataclass(frozen=True)
class Heading:
    """A heading; level 1 is the title."""

    level: int
    text: str


@dataclass(frozen=True)
class Para:
    """A paragraph of plain text."""

    text: str


@dataclass(frozen=True)
class Bullets:
    """An unordered list."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table of plain-text cells."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Image:
    """A chart file."""

    path: Path
    alt: str


Block = Heading | Para | Bullets | Table | Image


def fmt(value: float) -> str:
    """A number for humans: thousands grouped, about three significant digits."""
    magnitude = abs(value)
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"

    return f"{value:.3g}"


def _section_table(section: SectionResult) -> Table:
    case_keys = list(dict.fromkeys(k for r in section.rows for k in r.case))
    value_keys = list(dict.fromkeys(k for r in section.rows for k in r.values))
    rows = tuple(
        tuple(str(r.case.get(k, "")) for k in case_keys)
        + tuple(fmt(r.values[k]) if k in r.values else "" for k in value_keys)
        for r in section.rows
    )

    return Table(tuple(case_keys + value_keys), rows)


def _verdict_table(verdicts: Iterable[Verdict], with_source: bool) -> Table:
    rows = tuple(
        ((v.claim.source,) if with_source else ()) + (v.claim.short, v.evidence, v.status)
        for v in verdicts
    )
    headers = (("Source",) if with_source else ()) + ("Claim", "Measured", "Verdict")

    return Table(headers, rows)


def _header_blocks(results: Results) -> list[Block]:
    m = results.machine
    mode = "quick (smoke test, small samples)" if results.quick else "full"
    ran = ", ".join(results.sections) or "none"

    return [
        Heading(1, "jwtmesh bench report"),
        Para(f"Run {results.started_at} to {results.finished_at}, {mode}. Sections run: {ran}."),
        Para(
            f"Measured on a shared, noisy machine ({m.logical_cores} logical cores, "
            f"{m.cpu_model}). Absolute numbers move between runs; comparisons are made within "
            "one run, with the contenders interleaved, and reported as medians (and p99) over "
            "repeats. The targets below are measured, never asserted by the tests."
        ),
    ]


def _claim_blocks(verdicts: list[Verdict]) -> list[Block]:
    table1 = [v for v in verdicts if v.claim.source == "Study, Table 1"]

    return [
        Heading(2, "The study's JWT-vs-session table, measured"),
        Para(
            "Table 1 of the study compares JWTs with server-side sessions in words; here each "
            "row is a measurement with a verdict ('not measured in this run' when its section "
            "did not run)."
        ),
        _verdict_table(table1, with_source=False),
        Heading(2, "Every claim and target"),
        _verdict_table(verdicts, with_source=True),
    ]


def _machine_blocks(results: Results) -> list[Block]:
    rows = tuple((k, v) for k, v in results.machine.flat().items())

    return [Heading(2, "Machine and versions"), Table(("Field", "Value"), rows)]


def _section_blocks(
    name: str, title: str, section: SectionResult | None, charts: list[ChartFile]
) -> list[Block]:
    blocks: list[Block] = [Heading(2, title)]
    if section is None:
        return [*blocks, Para(f"Section '{name}': {NOT_MEASURED}.")]
    if section.method:
        blocks.append(Para(section.method))
    notes = (*section.notes, f"Section time: {section.seconds:.1f} s.")
    blocks.append(Bullets(notes))
    blocks += [Image(c.path, c.title) for c in charts if c.section == name]
    if section.rows:
        blocks.append(_section_table(section))

    return blocks


def build_outline(results: Results, charts: list[ChartFile]) -> list[Block]:
    """The report's blocks, in order."""
    blocks = _header_blocks(results) + _claim_blocks(evaluate(results))
    titles = {**ALL_SECTIONS, **{k: s.title for k, s in results.sections.items()}}
    for name, title in titles.items():
        blocks += _section_blocks(name, title, results.get(name), charts)

    return blocks + _machine_blocks(results)


# ------------------------------------------------------------------ markdown
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Para):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Image):
        return f"![{block.alt}]({block.path.name})"
    lines = [
        "| " + " | ".join(_md_cell(h) for h in block.headers) + " |",
        "|" + "---|" * len(block.headers),
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]

    return "\n".join(lines)


def render_markdown(blocks: list[Block]) -> str:
    """The outline as GitHub-flavoured Markdown (charts referenced by file name)."""
    return "\n\n".join(_md_block(b) for b in blocks) + "\n"


# ---------------------------------------------------------------------- html
_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2} img{max-width:100%;display:block;margin:1em 0}
td.holds{color:#060;font-weight:bold} td.does-not-hold{color:#a00;font-weight:bold}
td.partly{color:#a60;font-weight:bold}
"""


def _html_cell(text: str) -> str:
    css = text.replace(" ", "-")
    klass = f' class="{css}"' if text in ("holds", "does not hold", "partly") else ""

    return f"<td{klass}>{html.escape(text)}</td>"


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Para):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Image):
        data = base64.b64encode(block.path.read_bytes()).decode("ascii")
        return f'<img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}">'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
    body = "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in block.rows)

    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(blocks: list[Block]) -> str:
    """The outline as one self-contained HTML page (charts inlined)."""
    body = "\n".join(_html_block(b) for b in blocks)

    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>jwtmesh bench report</title><style>{_CSS}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def write_reports(results: Results, charts: list[ChartFile], out_dir: Path) -> None:
    """Write ``report.md`` and ``report.html`` into ``out_dir``."""
    blocks = build_outline(results, charts)
    (out_dir / "report.md").write_text(render_markdown(blocks), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(blocks), encoding="utf-8")

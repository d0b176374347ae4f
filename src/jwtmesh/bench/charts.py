"""PNG charts drawn with matplotlib's Agg canvas (no display, no pyplot state).

Each chart reads one section; charts whose section did not run are skipped.
Rows the HTTP sections are expected to produce:

- ``token_endpoint``: case ``{grant, clients}``, values ``p50_ms, p99_ms, requests_per_s``.
- ``http``: case ``{mode, concurrency}``, values ``p50_ms, p99_ms, requests_per_s``.
- ``scaleout``: case ``{mode, processes}``, values ``requests_per_s``.
- ``availability``: case ``{mode, stopped}``, values ``success_pct, before_success_pct``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._model import Results, SectionResult

__all__ = ["CHARTS", "Chart", "ChartFile", "render_all"]

logger = logging.getLogger(__name__)
DPI = 110
LOADS = {1: "low (1)", 16: "medium (16)", 64: "peak (64)"}


@dataclass(frozen=True)
class Chart:
    """A chart: its file name, the section it reads, and how to draw it."""

    name: str
    section: str
    title: str
    draw: Callable[[SectionResult, Figure], None]


@dataclass(frozen=True)
class ChartFile:
    """A chart written to disk."""

    name: str
    section: str
    title: str
    path: Path


def _values(section: SectionResult, key: str, metric: str) -> list[str]:
    return sorted({str(r.case[key]) for r in section.rows if metric in r.values})


def _grouped_bars(
    ax: Axes, groups: Sequence[str], series: dict[str, list[float]], labels: bool = False
) -> None:
    width = 0.8 / max(len(series), 1)
    for i, (name, heights) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, heights, width, label=name)
        if labels:
            ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.margins(y=0.18)  # headroom for the legend above the tallest bar
    ax.legend(fontsize=7, ncol=min(len(series), 5), loc="upper center")
    ax.grid(axis="y", alpha=0.3)


def _metric(section: SectionResult, metric: str, **case: str | int) -> float:
    rows = section.select(**case)

    return rows[0].values.get(metric, 0.0) if rows else 0.0


def draw_generation(section: SectionResult, fig: Figure) -> None:
    """Median signing time per algorithm: jwtmesh encode beside the bare signature."""
    ax = fig.subplots()
    algs = [str(a) for a in dict.fromkeys(r.case["alg"] for r in section.rows)]
    impls = [str(i) for i in dict.fromkeys(r.case["impl"] for r in section.rows)]
    series = {i: [_metric(section, "median_us", alg=a, impl=i) for a in algs] for i in impls}
    _grouped_bars(ax, algs, series, labels=True)
    ax.set_yscale("log")
    ax.set_ylabel("median time per token (us, log scale)")
    ax.set_title("In-process token signing time per algorithm")


def draw_generation_load(section: SectionResult, fig: Figure) -> None:
    """Token endpoint p50 latency by load level, one bar per grant."""
    ax = fig.subplots()
    grants = _values(section, "grant", "p50_ms")
    levels = sorted({int(r.case["clients"]) for r in section.rows if "clients" in r.case})
    series = {g: [_metric(section, "p50_ms", grant=g, clients=c) for c in levels] for g in grants}
    _grouped_bars(ax, [LOADS.get(c, str(c)) for c in levels], series)
    ax.set_ylabel("p50 latency per token (ms)")
    ax.set_xlabel("load (concurrent clients)")
    ax.set_title("Token generation time by load (token endpoint)")


def draw_sizes(section: SectionResult, fig: Figure) -> None:
    """Token size per role and algorithm, one panel per claim style."""
    styles = [str(s) for s in dict.fromkeys(r.case["style"] for r in section.rows)]
    axes = fig.subplots(1, len(styles), sharey=True, squeeze=False)[0]
    roles = [str(r) for r in dict.fromkeys(r.case["role"] for r in section.rows)]
    algs = [str(a) for a in dict.fromkeys(r.case["alg"] for r in section.rows)]
    for ax, style in zip(axes, styles, strict=True):
        series = {
            a: [_metric(section, "token_bytes", role=r, alg=a, style=style) for r in roles]
            for a in algs
        }
        _grouped_bars(ax, roles, series, labels=True)
        ax.set_title(f"claims: {style}")
    axes[0].set_ylabel("token size (bytes)")
    fig.suptitle("Access token size per role and algorithm")


def draw_validation(section: SectionResult, fig: Figure) -> None:
    """Warm decode cost per algorithm for every contender, log scale."""
    ax = fig.subplots()
    warm = [r for r in section.rows if r.case["phase"] == "warm" and "calls_per_block" in r.values]
    algs = [str(a) for a in dict.fromkeys(r.case["alg"] for r in warm)]
    impls = [str(i) for i in dict.fromkeys(r.case["impl"] for r in warm)]
    series = {
        i: [_metric(section, "median_us", alg=a, impl=i, phase="warm") for a in algs] for i in impls
    }
    _grouped_bars(ax, algs, series)
    ax.set_yscale("log")
    ax.set_ylabel("median time per token (us, log scale)")
    ax.set_title("Validation cost per algorithm (in-process)")


def draw_latency(section: SectionResult, fig: Figure) -> None:
    """p50 (solid) and p99 (dashed) latency against concurrency, one colour per mode."""
    ax = fig.subplots()
    for i, mode in enumerate(_values(section, "mode", "p50_ms")):
        rows = sorted(section.select(mode=mode), key=lambda r: int(r.case["concurrency"]))
        xs = [int(r.case["concurrency"]) for r in rows]
        colour = f"C{i}"
        ax.plot(xs, [r.values["p50_ms"] for r in rows], "o-", color=colour, label=f"{mode} p50")
        ax.plot(xs, [r.values["p99_ms"] for r in rows], "s--", color=colour, label=f"{mode} p99")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("latency (ms)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    ax.set_title("Latency against concurrency per mode")


def draw_throughput(section: SectionResult, fig: Figure) -> None:
    """Requests per second per mode at each concurrency level."""
    ax = fig.subplots()
    levels = sorted({int(r.case["concurrency"]) for r in section.rows if "concurrency" in r.case})
    series = {
        m: [_metric(section, "requests_per_s", mode=m, concurrency=c) for c in levels]
        for m in _values(section, "mode", "requests_per_s")
    }
    _grouped_bars(ax, [str(c) for c in levels], series)
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("requests/s")
    ax.set_title("Throughput per mode")


def draw_scaleout(section: SectionResult, fig: Figure) -> None:
    """Requests per second per mode with one and with two service processes."""
    ax = fig.subplots()
    modes = [str(m) for m in dict.fromkeys(r.case["mode"] for r in section.rows)]
    counts = sorted({int(r.case["processes"]) for r in section.rows})
    series = {
        f"{n} process{'es' if n > 1 else ''}": [
            _metric(section, "requests_per_s", mode=m, processes=n) for m in modes
        ]
        for n in counts
    }
    _grouped_bars(ax, modes, series, labels=True)
    ax.set_ylabel("requests/s")
    ax.set_title("Scale-out: one vs two service processes")


def draw_availability(section: SectionResult, fig: Figure) -> None:
    """Share of requests served before and after the backend was stopped, per mode."""
    ax = fig.subplots()
    cases = [(str(r.case["mode"]), str(r.case["stopped"])) for r in section.rows]
    labels = [f"{mode}\n({stopped} stopped)" for mode, stopped in cases]
    series = {
        label: [_metric(section, metric, mode=m, stopped=s) for m, s in cases]
        for label, metric in (("before the stop", "before_success_pct"), ("after", "success_pct"))
    }
    _grouped_bars(ax, labels, series, labels=True)
    ax.set_ylim(0, 115)
    ax.set_ylabel("requests served (%)")
    ax.set_title("Availability with a backend stopped mid-run")


CHARTS: tuple[Chart, ...] = (
    Chart("generation_inprocess", "generation", "In-process signing time", draw_generation),
    Chart("generation_load", "token_endpoint", "Generation time by load", draw_generation_load),
    Chart("token_sizes", "sizes", "Token size by role and algorithm", draw_sizes),
    Chart("validation", "validation", "Validation cost per algorithm", draw_validation),
    Chart("latency_concurrency", "http", "Latency against concurrency", draw_latency),
    Chart("throughput", "http", "Throughput per mode", draw_throughput),
    Chart("scaleout", "scaleout", "Scale-out per mode", draw_scaleout),
    Chart("availability", "availability", "Availability per mode", draw_availability),
)


def render_all(results: Results, out_dir: Path) -> list[ChartFile]:
    """Draw every chart whose section has rows; a chart that fails is logged and skipped."""
    written = []
    for chart in CHARTS:
        section = results.get(chart.section)
        if section is None or not section.rows:
            continue
        path = out_dir / f"{chart.name}.png"
        fig = Figure(figsize=(8, 4.5), layout="constrained")
        try:
            chart.draw(section, fig)
            fig.savefig(path, dpi=DPI, format="png")
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("chart %s not drawn: %s", chart.name, exc)
            continue
        written.append(ChartFile(chart.name, chart.section, chart.title, path))

    return written

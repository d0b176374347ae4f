"""Runner, verdicts, charts and timing helpers, with synthetic results (fast)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from jwtmesh.bench import SECTIONS, Context, Results, Row, Section, SectionResult, evaluate, run
from jwtmesh.bench._machine import describe_machine
from jwtmesh.bench._timing import percentile, rotate, stats
from jwtmesh.bench.charts import render_all
from jwtmesh.bench.report import build_outline, render_markdown
from jwtmesh.bench.verdicts import DOES_NOT_HOLD, HOLDS, NOT_MEASURABLE, NOT_MEASURED


def _results(*sections: SectionResult) -> Results:
    return Results("t0", "t1", True, describe_machine(), {s.name: s for s in sections})


def _http_section() -> SectionResult:
    rows = [
        Row(
            {"mode": mode, "concurrency": c},
            {"p50_ms": 1.0 + c / 10, "p99_ms": 3.0 + c / 5, "requests_per_s": 1000.0 / (1 + i)},
        )
        for i, mode in enumerate(("noauth", "jwt", "session", "introspection"))
        for c in (1, 8, 32)
    ]
    summary: dict[str, str | int | float | bool] = {
        "jwt_over_noauth_min_ratio": 0.95,
        "jwt_over_session_min_ratio": 0.8,
        "jwt_over_introspection_min_ratio": 2.0,
    }

    return SectionResult("http", "Modes over HTTP", "synthetic", rows, summary)


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert stats([1000, 2000, 3000]).median_us == 2.0


def test_rotate_starts_each_repeat_elsewhere() -> None:
    assert rotate(["a", "b", "c"], 4) == ["b", "c", "a"]


def test_missing_sections_are_not_measured() -> None:
    verdicts = evaluate(_results())

    assert {v.status for v in verdicts} == {NOT_MEASURED, NOT_MEASURABLE}
    assert all(v.claim.sections == () for v in verdicts if v.status == NOT_MEASURABLE)


def test_http_summary_decides_its_claims() -> None:
    verdicts = {v.claim.key: v.status for v in evaluate(_results(_http_section()))}

    assert verdicts["target.noauth"] == HOLDS
    assert verdicts["target.session"] == DOES_NOT_HOLD
    assert verdicts["study.h1"] == HOLDS
    assert verdicts["target.refresh"] == NOT_MEASURED


def test_failed_section_is_reported_not_measured() -> None:
    failed = SectionResult("validation", "V", "", summary={"failed": True}, notes=["boom"])
    verdicts = {v.claim.key: v for v in evaluate(_results(failed))}

    assert verdicts["target.cache_hit"].status == NOT_MEASURED
    assert "failed" in verdicts["target.cache_hit"].evidence


def test_http_charts_draw_from_expected_rows(tmp_path: Path) -> None:
    endpoint = SectionResult(
        "token_endpoint",
        "Token endpoint",
        "synthetic",
        [
            Row({"grant": g, "clients": c}, {"p50_ms": 2.0, "p99_ms": 5.0, "requests_per_s": 9.0})
            for g in ("client_credentials", "refresh")
            for c in (1, 16, 64)
        ],
    )
    written = render_all(_results(_http_section(), endpoint), tmp_path)

    assert {c.name for c in written} == {"latency_concurrency", "throughput", "generation_load"}
    assert all(c.path.read_bytes().startswith(b"\x89PNG") for c in written)


def test_report_marks_sections_not_run() -> None:
    text = render_markdown(build_outline(_results(_http_section()), []))

    assert "Section 'availability': not measured in this run." in text
    assert "Section 'http'" not in text


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown section"):
        run(tmp_path, quick=True, only={"nope"}, console=Console(file=io.StringIO()))


def test_a_failing_section_does_not_stop_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(ctx: Context) -> SectionResult:
        raise RuntimeError("synthetic failure")

    monkeypatch.setitem(SECTIONS, "explode", Section("explode", "Explodes", explode))
    results = run(tmp_path, quick=True, only={"explode"}, console=Console(file=io.StringIO()))

    assert results.sections["explode"].summary == {"failed": True}
    assert "RuntimeError: synthetic failure" in results.sections["explode"].notes[0]
    assert (tmp_path / "report.html").is_file()

"""The quick HTTP sections, run once on real processes: files and keys exist (no numbers)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from jwtmesh.bench import Results, evaluate, run
from jwtmesh.bench.verdicts import NOT_MEASURED

HTTP = {"token_endpoint", "http", "scaleout", "availability"}
CHARTS = ("generation_load", "latency_concurrency", "throughput", "scaleout", "availability")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROW_KEYS = {
    "token_endpoint": ({"grant", "clients"}, {"p50_ms", "p99_ms", "requests_per_s"}),
    "http": (
        {"mode", "concurrency"},
        {"p50_ms", "p99_ms", "requests_per_s", "service_cpu_ms_per_request"},
    ),
    "scaleout": ({"mode", "processes"}, {"requests_per_s", "p50_ms", "p99_ms"}),
    "availability": ({"mode", "stopped"}, {"success_pct", "before_success_pct"}),
}
SUMMARY_KEYS = {
    "token_endpoint": {
        "client_credentials_per_s",
        "refresh_per_s",
        "login_over_hash_ratio",
        "generation_peak_over_low_ratio",
    },
    "http": {
        "jwt_over_noauth_min_ratio",
        "jwt_over_session_min_ratio",
        "jwt_over_introspection_min_ratio",
        "jwt_backend_cpu_ms_per_request",
        "session_backend_cpu_ms_per_request",
        "jwt_backend_calls_per_request",
        "loadgen_ceiling_per_s",
    },
    "availability": {"jwt_success_pct", "session_success_pct", "introspection_success_pct"},
    "scaleout": {"jwt_scaleout_ratio", "session_scaleout_ratio"},
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server"),
]


@pytest.fixture(scope="module")
def http_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Results]:
    out = tmp_path_factory.mktemp("bench-http")
    console = Console(file=io.StringIO(), width=120)

    return out, run(out, quick=True, only=HTTP, console=console)


@pytest.fixture(scope="module")
def sections(http_run: tuple[Path, Results]) -> dict[str, Any]:
    document = json.loads((http_run[0] / "results.json").read_text())
    found: dict[str, Any] = document["sections"]

    return found


def test_every_file_is_written(http_run: tuple[Path, Results]) -> None:
    names = {p.name for p in http_run[0].iterdir()}

    assert {"results.json", "results.csv", "report.md", "report.html"} <= names
    assert {f"{c}.png" for c in CHARTS} <= names
    assert "availability_timeline.csv" in names


def test_charts_are_png(http_run: tuple[Path, Results]) -> None:
    for name in CHARTS:
        assert (http_run[0] / f"{name}.png").read_bytes().startswith(PNG_MAGIC), name


def test_sections_ran_without_failing(sections: dict[str, Any]) -> None:
    assert set(sections) == HTTP
    for name, section in sections.items():
        assert "failed" not in section["summary"], section["notes"]
        assert section["rows"], name


@pytest.mark.parametrize("name", sorted(ROW_KEYS))
def test_rows_have_their_shape(sections: dict[str, Any], name: str) -> None:
    case_keys, value_keys = ROW_KEYS[name]
    for row in sections[name]["rows"]:
        assert set(row["case"]) == case_keys
        assert value_keys <= set(row["values"])


@pytest.mark.parametrize("name", sorted(SUMMARY_KEYS))
def test_summaries_have_their_keys(sections: dict[str, Any], name: str) -> None:
    assert SUMMARY_KEYS[name] <= set(sections[name]["summary"])


def test_http_measures_every_mode(sections: dict[str, Any]) -> None:
    modes = {row["case"]["mode"] for row in sections["http"]["rows"]}

    assert {"noauth", "jwt", "session", "introspection"} <= modes


def test_every_http_claim_gets_a_verdict(http_run: tuple[Path, Results]) -> None:
    verdicts = [v for v in evaluate(http_run[1]) if set(v.claim.sections) & HTTP]

    assert verdicts
    assert all(v.status != NOT_MEASURED for v in verdicts), [v.claim.key for v in verdicts]


def test_timeline_has_every_case(http_run: tuple[Path, Results]) -> None:
    with (http_run[0] / "availability_timeline.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))

    assert set(rows[0]) == {"mode", "stopped", "t_s", "success_pct"}
    assert {(r["mode"], r["stopped"]) for r in rows} == {
        ("jwt", "authority"),
        ("introspection", "authority"),
        ("session", "redis"),
    }


def test_report_covers_the_http_sections(http_run: tuple[Path, Results]) -> None:
    text = (http_run[0] / "report.md").read_text()

    for title in ("Token endpoint under load", "Modes over HTTP", "Scale-out", "Availability"):
        assert f"## {title}" in text
    for chart in CHARTS:
        assert f"]({chart}.png)" in text

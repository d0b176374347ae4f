"""The quick in-process benchmark writes every file, and they parse (numbers are not asserted)."""

from __future__ import annotations

import base64
import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from jwtmesh.bench import Results, run

IN_PROCESS = {"generation", "sizes", "validation"}
CHARTS = ("generation_inprocess.png", "token_sizes.png", "validation.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALGS = ("HS256", "RS256", "ES256", "EdDSA")


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Results]:
    out = tmp_path_factory.mktemp("bench")
    console = Console(file=io.StringIO(), width=120)

    return out, run(out, quick=True, only=IN_PROCESS, console=console)


@pytest.fixture(scope="module")
def document(bench_run: tuple[Path, Results]) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((bench_run[0] / "results.json").read_text())

    return loaded


def test_every_file_is_written(bench_run: tuple[Path, Results]) -> None:
    out, _ = bench_run
    names = {"results.json", "results.csv", "report.md", "report.html", *CHARTS}

    assert names <= {p.name for p in out.iterdir()}


def test_charts_are_png(bench_run: tuple[Path, Results]) -> None:
    for name in CHARTS:
        data = (bench_run[0] / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 5_000, name


def test_json_has_the_expected_keys(document: dict[str, object]) -> None:
    assert set(document) == {
        "started_at",
        "finished_at",
        "quick",
        "machine",
        "sections",
        "schema_version",
    }
    assert document["quick"] is True
    machine = document["machine"]
    assert isinstance(machine, dict)
    assert {"cpu_model", "logical_cores", "python", "versions"} <= set(machine)
    assert {"cryptography", "pyjwt", "joserfc", "openssl"} <= set(machine["versions"])


def test_json_sections_have_rows_and_summaries(document: dict[str, object]) -> None:
    sections = document["sections"]
    assert isinstance(sections, dict)
    assert set(sections) == IN_PROCESS
    for name, section in sections.items():
        assert {"name", "title", "method", "rows", "summary", "notes", "seconds"} <= set(section)
        assert section["name"] == name
        assert "failed" not in section["summary"], section["notes"]
        assert section["rows"], name
        assert all(set(row) == {"case", "values"} for row in section["rows"])


def test_section_summaries_name_every_algorithm(document: dict[str, object]) -> None:
    sections = document["sections"]
    assert isinstance(sections, dict)
    validation, generation = sections["validation"]["summary"], sections["generation"]["summary"]
    for alg in ALGS:
        assert f"decode_over_raw_{alg}_ratio" in validation
        assert f"cold_{alg}_median_us" in validation
        assert f"encode_{alg}_median_us" in generation
    assert len(sections["sizes"]["rows"]) == 3 * 4 * 2
    assert {"max_token_bytes", "grows_with_permissions"} <= set(sections["sizes"]["summary"])


def test_json_round_trips(bench_run: tuple[Path, Results]) -> None:
    out, results = bench_run

    assert Results.read_json(out / "results.json") == results


def test_csv_is_tidy(bench_run: tuple[Path, Results]) -> None:
    with (bench_run[0] / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))

    assert rows and set(rows[0]) == {"section", "case", "metric", "value"}
    assert {r["section"] for r in rows} == {"machine", *IN_PROCESS}
    assert any(r["case"] == "cpu_model" for r in rows if r["section"] == "machine")
    assert all(float(r["value"]) >= 0 for r in rows if r["section"] != "machine")


def test_markdown_report_references_charts_and_verdicts(bench_run: tuple[Path, Results]) -> None:
    text = (bench_run[0] / "report.md").read_text()

    assert "## The study's JWT-vs-session table, measured" in text
    assert "not measured in this run" in text  # the HTTP sections did not run
    assert "shared, noisy machine" in text
    for name in CHARTS:
        assert f"]({name})" in text


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def test_html_report_is_self_contained(bench_run: tuple[Path, Results]) -> None:
    parser = _Images()
    parser.feed((bench_run[0] / "report.html").read_text())

    assert len(parser.sources) == len(CHARTS)
    prefix = "data:image/png;base64,"
    for src in parser.sources:
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :]).startswith(PNG_MAGIC)
    assert "table" in parser.tags
    assert "link" not in parser.tags and "script" not in parser.tags

"""The table and exit code of ``jwtmesh demo``, with the processes replaced by a stand-in."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from jwtmesh.demo import Row, _runner


class FakeSystem:
    """Stands in for DemoSystem: nothing to start, one log line per process."""

    stopped = False

    def __init__(self, **_options: Any) -> None:
        self.children: list[Any] = []
        self.state_dir = Path("/nonexistent")

    def start(self) -> None:
        pass

    def stop(self) -> None:
        FakeSystem.stopped = True

    def pids(self) -> dict[str, int]:
        return {"orders": 1}

    def log_tail(self, name: str, lines: int = 30) -> str:
        return f"{name}: the last log line"


def run_with(monkeypatch: pytest.MonkeyPatch, rows: list[Row]) -> tuple[int, str]:
    monkeypatch.setattr(_runner, "DemoSystem", FakeSystem)
    monkeypatch.setattr(_runner, "run_scenario", lambda _demo: rows)
    FakeSystem.stopped = False
    out = io.StringIO()
    code = _runner.run_scenario_demo(console=Console(file=out, width=200))
    return code, out.getvalue()


def test_a_mismatch_exits_1_and_shows_the_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        Row("alice", "GET /orders", "200 only her own", "200 only her own"),
        Row("alice", "GET /orders/<bob's>", "403 forbidden", "200 her order"),
    ]
    code, output = run_with(monkeypatch, rows)
    assert code == 1
    assert "1/2 as expected" in output
    assert "MISMATCH" in output
    assert "orders: the last log line" in output
    assert FakeSystem.stopped


def test_all_rows_as_expected_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = run_with(monkeypatch, [Row("guest", "POST /orders", "403 x", "403 x")])
    assert code == 0
    assert "1/1 as expected" in output
    assert "MISMATCH" not in output
    assert FakeSystem.stopped


def test_markup_in_a_row_is_printed_as_text() -> None:
    out = io.StringIO()
    table = _runner.render_table([Row("alice", "roles=[admin]", "1", "1")], "t")
    Console(file=out, width=200).print(table)
    assert "roles=[admin]" in out.getvalue()

"""Availability: a backend stopped mid-run, and the share of requests still served, per mode.

Paced clients (a fixed offered load, so failing fast does not inflate the
failure count) call the measured route of each mode's demo service; a third
of the way into the window the benchmark kills the backend (SIGKILL: a
crash, not a clean shutdown) and leaves it down.  jwt and introspection lose
the authority; session loses its Redis (a full run also stops the session
shop's authority first, which its guards do not need per request).  This
section runs last: the systems it breaks are not used again.
"""

from __future__ import annotations

import csv
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._context import Context, Section
from ._loadgen import LoadResult, LoadRun, LoadSpec
from ._measure import measure, shared_fleet, shared_generator
from ._model import Row, SectionResult
from ._systems import MEASURED_PATH, ModeSystem, sleep_until
from .modes import Target

__all__ = ["SECTION", "run_availability"]

TIMELINE_FILE = "availability_timeline.csv"
BUCKET_SECONDS = 0.5
PACE_PER_S = 50.0
_SIDE_CASE = ("session", "authority")
Timeline = list[tuple[str, str, float, float]]


@dataclass(frozen=True)
class Case:
    """A mode and the backend stopped under it."""

    mode: str
    stopped: str

    @property
    def key(self) -> str:
        """The summary key prefix: the mode, or ``session_authority`` for that side case."""
        return "session_authority" if (self.mode, self.stopped) == _SIDE_CASE else self.mode


def _cases(quick: bool) -> list[Case]:
    cases = [Case("jwt", "authority"), Case("introspection", "authority")]
    if not quick:
        cases.append(Case("session", "authority"))
    return [*cases, Case("session", "redis")]


def _stopper(system: ModeSystem, case: Case, at: float) -> Callable[[LoadRun], None]:
    def stop(run: LoadRun) -> None:
        sleep_until(run.window_start + at)
        if case.stopped == "redis":
            assert system.redis is not None
            os.kill(system.redis.pid, signal.SIGKILL)
        else:
            # Each demo child leads its own process group: its pid names the group.
            os.killpg(system.demo.pids()["authority"], signal.SIGKILL)

    return stop


def _window_pct(result: LoadResult, low: float, high: float) -> tuple[float, int]:
    picked = [ok for t, ok in zip(result.starts, result.outcomes, strict=True) if low <= t < high]

    return (100.0 * sum(picked) / len(picked) if picked else 0.0), len(picked)


def _timeline(result: LoadResult, case: Case, duration: float) -> Timeline:
    rows = []
    buckets = int(duration / BUCKET_SECONDS)
    for b in range(buckets):
        pct, _ = _window_pct(result, b * BUCKET_SECONDS, (b + 1) * BUCKET_SECONDS)
        rows.append((case.mode, case.stopped, b * BUCKET_SECONDS, pct))
    return rows


def _write_timeline(path: Path, rows: Timeline) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("mode", "stopped", "t_s", "success_pct"))
        writer.writerows(rows)


def run_availability(ctx: Context) -> SectionResult:
    """Each case once: success before and after the stop."""
    duration = 2.1 if ctx.quick else 12.0
    clients = ctx.pick(8, 16)
    stop_at = duration / 3
    fleet, generator = shared_fleet(ctx), shared_generator(ctx)
    section = SectionResult(
        "availability", SECTION.title, _METHOD.format(d=duration, c=clients, p=PACE_PER_S)
    )
    timeline: Timeline = []
    cases = _cases(ctx.quick)
    task = ctx.task("availability", len(cases))
    for case in cases:
        system = fleet[case.mode]
        target = Target(case.mode, system, system.service.url, MEASURED_PATH, [])
        spec = LoadSpec(
            target.script(clients), clients, duration, 0.3, PACE_PER_S, 2.0, timeline=True
        )
        point = measure(generator, spec, {}, during=_stopper(system, case, stop_at))
        before, _ = _window_pct(point.result, 0.0, stop_at)
        after, n_after = _window_pct(point.result, stop_at, duration)
        values = {"success_pct": after, "before_success_pct": before, "requests": float(n_after)}
        section.rows.append(Row({"mode": case.mode, "stopped": case.stopped}, values))
        section.summary[f"{case.key}_success_pct"] = after
        timeline += _timeline(point.result, case, duration)
        task.advance()
    _write_timeline(ctx.out_dir / TIMELINE_FILE, timeline)
    section.notes.append(f"Success per {BUCKET_SECONDS:g} s bucket: {TIMELINE_FILE}.")

    return section


_METHOD = (
    "{c} clients, each pacing {p:g} requests/s, call the measured route of each mode's demo "
    "service for {d:g} s; a third of the way in, the backend is killed (SIGKILL) and stays "
    "down. success_pct counts 200 answers among the requests started after the stop "
    "(before_success_pct: before it). A request waits at most 2 s."
)

SECTION = Section(
    "availability",
    "Availability with the authority or Redis stopped",
    run_availability,
    needs_servers=True,
)

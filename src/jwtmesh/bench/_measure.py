"""One measurement point over HTTP: load, CPU of every process involved, backend counters.

Shared by the HTTP sections, with the resources they share across a run
(the demo shops and the load generator, started once).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ._context import Context
from ._loadgen import LoadGenerator, LoadResult, LoadRun, LoadSpec
from ._systems import CpuMeter, Fleet, cpu_delta, fleet, sleep_until

__all__ = [
    "BACKENDS",
    "Counters",
    "Point",
    "generator_processes",
    "measure",
    "shared_fleet",
    "shared_generator",
]

BACKENDS = ("authority", "redis")
Counters = Callable[[], dict[str, float]]


def generator_processes() -> int:
    """Load generator processes for this machine: one per four cores, at least one."""
    return max(1, min(4, (os.cpu_count() or 1) // 4))


def shared_fleet(ctx: Context) -> Fleet:
    """The demo shops of every guard mode, started on first use and kept for the run."""
    return ctx.resource("fleet", lambda _ctx: fleet())


def shared_generator(ctx: Context) -> LoadGenerator:
    """The load generator processes, started on first use and kept for the run."""
    return ctx.resource("loadgen", lambda _ctx: LoadGenerator.started(generator_processes()))


@dataclass
class Point:
    """A measured point: what the clients saw, the CPU each process group used, counters."""

    result: LoadResult
    cpu_seconds: dict[str, float]
    counters: dict[str, float] = field(default_factory=dict)

    def cpu_ms_per_request(self, *groups: str) -> float:
        """CPU milliseconds per completed request, summed over ``groups``."""
        used = sum(self.cpu_seconds.get(g, 0.0) for g in groups)

        return 1000.0 * used / self.result.total if self.result.total else 0.0

    def values(self) -> dict[str, float]:
        """Client-side metrics, then CPU per request of the service and of its backends."""
        values = self.result.values()
        values["service_cpu_ms_per_request"] = self.cpu_ms_per_request("service")
        values["backend_cpu_ms_per_request"] = self.cpu_ms_per_request(*BACKENDS)
        for group in BACKENDS:
            if group in self.cpu_seconds:
                values[f"{group}_cpu_ms_per_request"] = self.cpu_ms_per_request(group)
        if "backend_calls" in self.counters and self.result.total:
            values["backend_calls_per_request"] = self.counters["backend_calls"] / self.result.total

        return values


def measure(
    generator: LoadGenerator,
    spec: LoadSpec,
    groups: Mapping[str, Sequence[int]],
    counters: Counters | None = None,
    during: Callable[[LoadRun], None] | None = None,
) -> Point:
    """Run ``spec``; sample CPU (and ``counters``) at the edges of its measured window.

    ``during`` runs in this process while the load is on (e.g. stopping a
    backend); it returns before the window ends.
    """
    meter = CpuMeter(groups)
    run = generator.begin(spec)
    sleep_until(run.window_start)
    cpu_before, count_before = meter.sample(), counters() if counters else {}
    if during is not None:
        during(run)
    sleep_until(run.window_end)
    cpu_after, count_after = meter.sample(), counters() if counters else {}
    result = run.wait()
    deltas = {k: count_after[k] - count_before.get(k, 0.0) for k in count_after}

    return Point(result, cpu_delta(cpu_before, cpu_after), deltas)

"""Scale-out: the measured service as one process, then as two, per mode.

The benchmark starts its own copies of the catalog with the environment of
the mode's running demo service (``python -m jwtmesh.demo.service``), each
copy on its own ``SO_REUSEPORT`` socket of one port, so the kernel spreads
the clients' connections over them.  On a machine with few cores the two
processes, the load generator and the backends share them: the ratio then
shows that limit as much as the mode's.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

from ._context import Context, Section
from ._loadgen import LoadSpec
from ._measure import measure, shared_fleet, shared_generator
from ._model import Row, SectionResult
from ._systems import MEASURED_PATH, PUBLIC_PATH, ServicePool
from ._timing import rotate
from .modes import Target

__all__ = ["SECTION", "run_scaleout"]

PROCESSES = (1, 2)


def run_scaleout(ctx: Context) -> SectionResult:
    """Per mode: requests/s with one and with two service processes, at one concurrency."""
    modes = ("jwt", "session") if ctx.quick else ("noauth", "jwt", "session", "introspection")
    clients = ctx.pick(8, 64)
    duration, warmup = (0.5, 0.15) if ctx.quick else (6.0, 0.5)
    fleet, generator = shared_fleet(ctx), shared_generator(ctx)
    section = SectionResult("scaleout", SECTION.title, _METHOD.format(c=clients, d=duration))
    task = ctx.task("scale-out", len(modes) * len(PROCESSES))
    for i, mode in enumerate(modes):
        system = fleet["jwt" if mode == "noauth" else mode]
        env = system.service_env()
        with ExitStack() as stack:
            pools = {n: stack.enter_context(ServicePool.running(env, n)) for n in PROCESSES}
            for n in rotate(PROCESSES, i):
                pool = pools[n]
                path = PUBLIC_PATH if mode == "noauth" else MEASURED_PATH
                target = Target(mode, system, pool.url, path, pool.pids)
                target.authenticated = mode != "noauth"
                spec = LoadSpec(target.script(clients), clients, duration, warmup)
                point = measure(generator, spec, target.groups())
                section.rows.append(Row({"mode": mode, "processes": n}, point.values()))
                task.advance()
    _summarize(section, modes)

    return section


def _summarize(section: SectionResult, modes: tuple[str, ...]) -> None:
    for mode in modes:
        rps = {
            int(r.case["processes"]): r.values["requests_per_s"] for r in section.select(mode=mode)
        }
        if rps.get(1):
            section.summary[f"{mode}_scaleout_ratio"] = rps.get(2, 0.0) / rps[1]
    ratios = ", ".join(
        f"{m} {section.summary[f'{m}_scaleout_ratio']:.2f}x"
        for m in modes
        if f"{m}_scaleout_ratio" in section.summary
    )
    section.notes.append(f"Two processes over one, requests/s: {ratios}.")
    noauth = section.summary.get("noauth_scaleout_ratio")
    if isinstance(noauth, float) and noauth < 1.5:
        section.notes.append(
            f"The no-auth route itself gains only {noauth:.2f}x from a second process: on "
            f"this machine ({os.cpu_count()} logical cores shared by the service processes, "
            "the load generator and the backends) the cores, not the mode, cap the second "
            "process, so these ratios do not rank the modes."
        )


_METHOD = (
    "{c} closed-loop clients ({d:g} s per point after a discarded warm-up) call the measured "
    "route of benchmark-started copies of the catalog service: one process, then two sharing "
    "the port (SO_REUSEPORT), the order alternating between modes. The copies run the demo's "
    "service entry point with the environment of the mode's demo service."
)

SECTION = Section(
    "scaleout", "Scale-out: one vs two service processes", run_scaleout, needs_servers=True
)

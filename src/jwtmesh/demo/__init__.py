"""The demo shop: an authority and four guarded services, a scripted scenario.

>>> with DemoSystem() as demo:                                   # doctest: +SKIP
...     rows = run_scenario(demo)

``run_scenario_demo()`` is ``jwtmesh demo``; ``demo_up(info_file)`` is
``jwtmesh demo up``.  Names load on first use, so a service process
(``python -m jwtmesh.demo.service``) does not import the orchestrator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._process import StartupFailedError
    from ._runner import demo_up, run_scenario_demo
    from ._scenario import Row, run_scenario
    from ._system import MODES, Account, DemoSystem, ServiceEndpoint
    from ._topology import DEFAULT_POLICY, DEFAULT_TOPOLOGY, ServiceSpec, Topology, TopologyError

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_TOPOLOGY",
    "MODES",
    "Account",
    "DemoSystem",
    "Row",
    "ServiceEndpoint",
    "ServiceSpec",
    "StartupFailedError",
    "Topology",
    "TopologyError",
    "demo_up",
    "run_scenario",
    "run_scenario_demo",
]

_HOME = {
    "StartupFailedError": "_process",
    "demo_up": "_runner",
    "run_scenario_demo": "_runner",
    "Row": "_scenario",
    "run_scenario": "_scenario",
    "MODES": "_system",
    "Account": "_system",
    "DemoSystem": "_system",
    "ServiceEndpoint": "_system",
    "DEFAULT_POLICY": "_topology",
    "DEFAULT_TOPOLOGY": "_topology",
    "ServiceSpec": "_topology",
    "Topology": "_topology",
    "TopologyError": "_topology",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)

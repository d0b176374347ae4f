"""The experiment: measure jwtmesh against the study's claims and write a report.

>>> from jwtmesh.bench import run
>>> results = run("bench-out", quick=True, only={"sizes"})  # doctest: +SKIP

A section is a :class:`Section` (name, title, ``run(ctx) -> SectionResult``);
:func:`register` appends one to the run order.
"""

from ._context import Context, Section, Task
from ._machine import describe_machine
from ._model import Machine, Results, Row, SectionResult
from .runner import SECTIONS, register, run, summary_table
from .verdicts import CLAIMS, Claim, Verdict, evaluate

__all__ = [
    "CLAIMS",
    "SECTIONS",
    "Claim",
    "Context",
    "Machine",
    "Results",
    "Row",
    "Section",
    "SectionResult",
    "Task",
    "Verdict",
    "describe_machine",
    "evaluate",
    "register",
    "run",
    "summary_table",
]

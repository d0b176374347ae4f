"""What a section receives (:class:`Context`) and how it declares itself (:class:`Section`)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from rich.console import Console
from rich.progress import Progress, TaskID

from ._model import SectionResult

__all__ = ["Context", "Section", "Task"]

T = TypeVar("T")


@dataclass(frozen=True)
class Section:
    """One part of the experiment.

    ``run`` measures and returns a :class:`SectionResult` whose ``name`` is
    this section's. ``needs_servers`` marks sections that start processes
    (authority, services, Redis clients) and talk HTTP.
    """

    name: str
    title: str
    run: Callable[[Context], SectionResult]
    needs_servers: bool = False


class Task:
    """A progress bar a section advances as it works."""

    def __init__(self, progress: Progress, task_id: TaskID, total: int) -> None:
        self._progress = progress
        self._id = task_id
        self._total = total

    def advance(self, steps: int = 1) -> None:
        """Move the bar ``steps`` forward."""
        self._progress.advance(self._id, steps)

    def done(self) -> None:
        """Fill the bar (when a section finishes early)."""
        self._progress.update(self._id, completed=self._total)


@dataclass
class Context:
    """Run-wide settings and shared resources, handed to every section.

    ``resource`` starts something expensive once (a topology of services, a
    Redis client) and keeps it for later sections; it is closed when the run
    ends, in reverse order.
    """

    quick: bool
    out_dir: Path
    console: Console
    progress: Progress
    stack: ExitStack
    resources: dict[str, Any] = field(default_factory=dict)

    def pick(self, quick: int, full: int) -> int:
        """``quick`` in a quick run, else ``full``: sizes loops in one place."""
        return quick if self.quick else full

    def task(self, description: str, total: int) -> Task:
        """A new progress bar of ``total`` steps."""
        return Task(self.progress, self.progress.add_task(description, total=total), total)

    def resource(self, name: str, factory: Callable[[Context], AbstractContextManager[T]]) -> T:
        """The shared resource ``name``, entered on first use and closed at the end of the run."""
        if name not in self.resources:
            self.resources[name] = self.stack.enter_context(factory(self))

        return cast(T, self.resources[name])

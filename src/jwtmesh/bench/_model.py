"""The results model: plain dataclasses that round-trip through JSON, and a tidy CSV.

``results.json`` holds everything; ``results.csv`` has one line per measured
value (``section, case, metric, value``) with the machine description first,
so a spreadsheet or pandas reads it without knowing the sections.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_VERSION", "Machine", "Results", "Row", "SectionResult"]

SCHEMA_VERSION = 1
Scalar = str | int | float | bool
CSV_COLUMNS = ("section", "case", "metric", "value")


@dataclass
class Row:
    """One measured case: what was measured (``case``) and the numbers (``values``).

    Metric names carry their unit as a suffix: ``_us``, ``_ms``, ``_bytes``,
    ``_per_s``, ``_ratio``, ``_pct``.
    """

    case: dict[str, Scalar]
    values: dict[str, float]

    def label(self) -> str:
        """``alg=ES256;role=admin``: the case as one stable string."""
        return ";".join(f"{k}={v}" for k, v in self.case.items())


@dataclass
class SectionResult:
    """What one section measured, how, and its headline figures (``summary``)."""

    name: str
    title: str
    method: str
    rows: list[Row] = field(default_factory=list)
    summary: dict[str, Scalar] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def select(self, **case: Scalar) -> list[Row]:
        """Rows whose case contains every given ``key=value``."""
        return [r for r in self.rows if all(r.case.get(k) == v for k, v in case.items())]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SectionResult:
        """Inverse of :func:`dataclasses.asdict`."""
        rows = [Row(dict(r["case"]), dict(r["values"])) for r in data.get("rows", [])]

        return cls(
            name=data["name"],
            title=data["title"],
            method=data.get("method", ""),
            rows=rows,
            summary=dict(data.get("summary", {})),
            notes=list(data.get("notes", [])),
            seconds=float(data.get("seconds", 0.0)),
        )


@dataclass
class Machine:
    """Where the numbers come from: hardware, interpreter and library versions."""

    cpu_model: str
    logical_cores: int
    physical_cores: int | None
    memory_gb: float | None
    platform: str
    python: str
    python_build: str
    load_average: list[float]
    versions: dict[str, str]

    def flat(self) -> dict[str, str]:
        """Every field as a string, versions as ``version:<package>``."""
        out = {k: str(v) for k, v in asdict(self).items() if k != "versions"}
        out.update({f"version:{k}": v for k, v in self.versions.items()})

        return out


@dataclass
class Results:
    """A whole run: when, how (quick or full), where, and every section's result."""

    started_at: str
    finished_at: str
    quick: bool
    machine: Machine
    sections: dict[str, SectionResult] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def get(self, name: str) -> SectionResult | None:
        """The section's result, or None when it did not run."""
        return self.sections.get(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Results:
        """Inverse of :meth:`to_dict`."""
        sections = {k: SectionResult.from_dict(v) for k, v in data.get("sections", {}).items()}

        return cls(
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            quick=bool(data["quick"]),
            machine=Machine(**data["machine"]),
            sections=sections,
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
        )

    def write_json(self, path: Path) -> None:
        """Write ``results.json`` (indented, stable key order)."""
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read_json(cls, path: Path) -> Results:
        """Load a ``results.json`` written by :meth:`write_json`."""
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def write_csv(self, path: Path) -> None:
        """Write the tidy CSV: machine lines, then one line per measured value."""
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            run = {"started_at": self.started_at, "quick": str(self.quick)}
            for key, value in {**run, **self.machine.flat()}.items():
                writer.writerow(("machine", key, "info", value))
            for section in self.sections.values():
                for row in section.rows:
                    for metric, number in row.values.items():
                        writer.writerow((section.name, row.label(), metric, repr(number)))

"""Describe the machine a run happens on: CPU, cores, memory, Python, library versions."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from ._model import Machine

__all__ = ["describe_machine"]

_PACKAGES = (
    "jwtmesh",
    "cryptography",
    "orjson",
    "pyjwt",
    "joserfc",
    "fastapi",
    "starlette",
    "uvicorn",
    "aiohttp",
    "redis",
    "argon2-cffi",
    "sqlalchemy",
    "matplotlib",
    "rich",
    "psutil",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass

    return platform.processor() or platform.machine() or "unknown"


def _versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["openssl"] = _openssl_version()

    return found


def _openssl_version() -> str:
    try:
        from cryptography.hazmat.backends.openssl.backend import backend
    except ImportError:
        return "unknown"

    return str(backend.openssl_version_text())


def _memory_and_cores() -> tuple[float | None, int | None]:
    try:
        import psutil
    except ImportError:
        return None, None

    memory = round(psutil.virtual_memory().total / 2**30, 1)

    return memory, psutil.cpu_count(logical=False)


def describe_machine() -> Machine:
    """The hardware, interpreter and library versions of this process."""
    memory, physical = _memory_and_cores()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []

    return Machine(
        cpu_model=_cpu_model(),
        logical_cores=os.cpu_count() or 1,
        physical_cores=physical,
        memory_gb=memory,
        platform=platform.platform(),
        python=platform.python_version(),
        python_build=f"{platform.python_implementation()} {sys.version.split()[0]}",
        load_average=load,
        versions=_versions(),
    )

"""The demo's topology file: which services exist, their audiences, ports and routes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_POLICY", "DEFAULT_TOPOLOGY", "ServiceSpec", "Topology", "TopologyError"]

DEFAULT_TOPOLOGY = Path(str(resources.files("jwtmesh.demo").joinpath("topology.toml")))
DEFAULT_POLICY = Path(str(resources.files("jwtmesh.demo").joinpath("policy.toml")))


class TopologyError(ValueError):
    """The topology file is invalid; the message names the faulty entry."""


@dataclass(frozen=True)
class ServiceSpec:
    """One service: its module (exposing ``create_app``), audience, port and neighbours."""

    name: str
    module: str
    audience: str
    port: int = 0
    probe: str = "/whoami"
    upstreams: tuple[str, ...] = ()
    client_roles: tuple[str, ...] = ()
    client_audiences: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topology:
    """The authority's port and token lifetimes, the guards' leeway, and the services."""

    services: tuple[ServiceSpec, ...]
    authority_port: int = 0
    access_ttl: int = 300
    refresh_ttl: int = 8 * 3600
    leeway: int = 5

    @classmethod
    def load(cls, path: Path = DEFAULT_TOPOLOGY) -> Topology:
        """Read and check a topology TOML file."""
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        authority = _table(data, "authority")
        guard = _table(data, "guard")
        services = tuple(_service(name, body) for name, body in _table(data, "services").items())
        topology = cls(
            services=services,
            authority_port=_int(authority, "port", 0, "authority"),
            access_ttl=_int(authority, "access_ttl", 300, "authority"),
            refresh_ttl=_int(authority, "refresh_ttl", 8 * 3600, "authority"),
            leeway=_int(guard, "leeway", 5, "guard"),
        )
        topology.check()
        return topology

    def check(self) -> None:
        """Every upstream names a known service; the gateway exists."""
        names = {s.name for s in self.services}
        if "gateway" not in names:
            raise TopologyError("services.gateway: the demo needs a gateway")
        for spec in self.services:
            for upstream in spec.upstreams:
                if upstream not in names:
                    raise TopologyError(f"services.{spec.name}.upstreams: unknown {upstream!r}")

    def service(self, name: str) -> ServiceSpec:
        """The service called ``name`` (KeyError if unknown)."""
        for spec in self.services:
            if spec.name == name:
                return spec
        raise KeyError(name)


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise TopologyError(f"{key}: must be a table")
    return value


def _int(table: dict[str, Any], key: str, default: int, where: str) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or value < 0:
        raise TopologyError(f"{where}.{key}: must be a non-negative integer")
    return value


def _strings(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TopologyError(f"{where}.{key}: must be a list of strings")
    return tuple(value)


def _service(name: str, body: Any) -> ServiceSpec:
    where = f"services.{name}"
    if not isinstance(body, dict):
        raise TopologyError(f"{where}: must be a table")
    for key in ("module", "audience"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise TopologyError(f"{where}.{key}: is required")
    probe = body.get("probe", "/whoami")
    if not isinstance(probe, str) or not probe.startswith("/"):
        raise TopologyError(f"{where}.probe: must be a path starting with '/'")
    return ServiceSpec(
        name=name,
        module=body["module"],
        audience=body["audience"],
        port=_int(body, "port", 0, where),
        probe=probe,
        upstreams=_strings(body, "upstreams", where),
        client_roles=_strings(body, "client_roles", where),
        client_audiences=_strings(body, "client_audiences", where),
    )

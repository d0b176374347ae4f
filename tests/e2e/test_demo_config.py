"""The demo's topology and policy files agree with each other and with the issue's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from jwtmesh.demo import DEFAULT_POLICY, Topology, TopologyError
from jwtmesh.guard import Policy

TOPOLOGY = Topology.load()
POLICY = Policy.load(DEFAULT_POLICY)


def allowed(role: str, method: str, path: str) -> bool:
    rule = POLICY.match(method, path)
    assert rule is not None, f"no rule for {method} {path}"
    return set(rule.permissions) <= POLICY.permissions_for([role])


def test_topology_has_the_four_services_with_their_own_audiences() -> None:
    names = [spec.name for spec in TOPOLOGY.services]
    assert sorted(names) == ["catalog", "gateway", "orders", "users"]
    assert all(spec.audience == spec.name for spec in TOPOLOGY.services)
    assert TOPOLOGY.service("orders").upstreams == ("catalog", "users")


@pytest.mark.parametrize("role", ["guest", "user", "admin"])
def test_every_probe_path_is_open_to_any_logged_in_role(role: str) -> None:
    for spec in TOPOLOGY.services:
        assert allowed(role, "GET", spec.probe)


@pytest.mark.parametrize(
    ("role", "method", "path", "expected"),
    [
        ("guest", "GET", "/catalog/products", True),
        ("guest", "GET", "/catalog/products/p1", True),
        ("guest", "POST", "/orders", False),
        ("guest", "GET", "/orders", False),
        ("guest", "GET", "/users/me", False),
        ("user", "POST", "/orders", True),
        ("user", "GET", "/orders/o-1", True),
        ("user", "POST", "/catalog/products", False),
        ("user", "PATCH", "/catalog/products/p1", False),
        ("user", "GET", "/users", False),
        ("user", "POST", "/catalog/products/p1/reserve", False),
        ("admin", "POST", "/catalog/products", True),
        ("admin", "GET", "/users", True),
        ("admin", "POST", "/catalog/products/p1/reserve", False),
        ("svc-orders", "POST", "/catalog/products/p1/reserve", True),
        ("svc-orders", "POST", "/orders", False),
    ],
)
def test_route_rules(role: str, method: str, path: str, expected: bool) -> None:
    assert allowed(role, method, path) is expected


def test_unknown_routes_are_denied() -> None:
    assert POLICY.unknown_route == "deny"
    assert POLICY.match("GET", "/admin") is None


def test_only_admins_read_every_order() -> None:
    assert "orders:read:any" in POLICY.permissions_for(["admin"])
    assert "orders:read:any" not in POLICY.permissions_for(["user"])


def test_topology_rejects_an_unknown_upstream(tmp_path: Path) -> None:
    path = tmp_path / "topology.toml"
    path.write_text(
        '[services.gateway]\nmodule = "m"\naudience = "gateway"\nupstreams = ["nowhere"]\n'
    )
    with pytest.raises(TopologyError, match=r"services\.gateway\.upstreams"):
        Topology.load(path)


def test_demo_exports_are_sorted_and_all_resolve() -> None:
    import jwtmesh.demo

    def isort_order(name: str) -> tuple[int, str]:  # constants, classes, functions (RUF022)
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert jwtmesh.demo.__all__ == sorted(jwtmesh.demo.__all__, key=isort_order)
    for name in jwtmesh.demo.__all__:
        assert getattr(jwtmesh.demo, name) is not None
    with pytest.raises(AttributeError):
        _ = jwtmesh.demo.no_such_name

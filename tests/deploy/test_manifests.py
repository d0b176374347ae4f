"""The deployment files parse, and every setting they pass is one the code reads."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from jwtmesh.authority import AuthoritySettings
from jwtmesh.guard import GuardSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DEMO_SETTINGS = {"JWTMESH_DEMO_TOKEN_URL", "JWTMESH_DEMO_STATE_DIR"}
UPSTREAM = re.compile(r"JWTMESH_DEMO_UPSTREAM_[A-Z]+")
SERVICES = ("gateway", "users", "catalog", "orders")


def _known_variables() -> set[str]:
    guard = {"JWTMESH_GUARD_" + f.name.upper() for f in dataclasses.fields(GuardSettings)}
    authority = {"JWTMESH_" + f.name.upper() for f in dataclasses.fields(AuthoritySettings)}
    return guard | authority | {"JWTMESH_KEK_FILE"} | DEMO_SETTINGS


def _documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _k8s_env_names() -> set[str]:
    names: set[str] = set()
    for doc in _documents():
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                names.update(item["name"] for item in container.get("env", []))
    return names


def _compose_env_names() -> set[str]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    names: set[str] = set()
    for service in compose["services"].values():
        names.update(n for n in service.get("environment", {}) if n.startswith("JWTMESH_"))
    return names


@pytest.mark.parametrize("source", ["k8s", "compose"])
def test_every_variable_set_is_one_the_code_reads(source: str) -> None:
    names = _k8s_env_names() if source == "k8s" else _compose_env_names()
    unknown = {n for n in names if n not in _known_variables() and not UPSTREAM.fullmatch(n)}
    assert names, "no variables found: the manifests moved?"
    assert unknown == set()


def test_each_demo_service_has_a_deployment_and_a_service() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in _documents() if "metadata" in d}
    for name in (*SERVICES, "authority"):
        assert ("Deployment", name) in kinds
        assert ("Service", name) in kinds


def test_containers_run_unprivileged_and_never_carry_secrets_inline() -> None:
    for doc in _documents():
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            for item in container.get("env", []):
                if "SECRET" in item["name"] or item["name"].endswith(("DATABASE_URL", "REDIS_URL")):
                    assert "valueFrom" in item, item["name"]

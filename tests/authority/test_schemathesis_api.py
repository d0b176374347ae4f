"""Fuzz the authority's HTTP API from its own OpenAPI document: no input may cause a 5xx.

A live authority (uvicorn on 127.0.0.1) with high throttle limits, so the
fuzzer is not answered 429, serves its ``/openapi.json``; schemathesis
generates requests from it, valid and invalid, for every operation. Each
operation runs twice: anonymously, and with a real confidential client's
Basic credentials, which reaches the grant and introspection code.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jwtmesh.authority import create_app

from .helpers import ServerThread, make_settings, seed

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A running authority that throttles only after a million failures."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    config = make_settings(
        tmp,
        throttle_free_failures=1_000_000,
        throttle_free_failures_per_address=1_000_000,
        revocation_wait_max=0.2,
    )
    client_secrets = seed(config)
    with ServerThread(create_app(config)) as server:
        yield f"http://127.0.0.1:{server.port}", client_secrets


@pytest.fixture(scope="module")
def api(live: tuple[str, dict[str, str]]) -> schemathesis.BaseSchema:
    """The authority's own OpenAPI document, as schemathesis reads it."""
    return schemathesis.openapi.from_url(f"{live[0]}/openapi.json")


schema = schemathesis.pytest.from_fixture("api")

_FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@schema.parametrize()
@_FUZZ
def test_anonymous_requests_never_cause_a_server_error(
    case: schemathesis.Case[Any], live: tuple[str, dict[str, str]]
) -> None:
    response = case.call_and_validate(base_url=live[0], checks=CHECKS, timeout=10)
    assert response.status_code < 500


@schema.parametrize()
@_FUZZ
def test_authenticated_requests_never_cause_a_server_error(
    case: schemathesis.Case[Any], live: tuple[str, dict[str, str]]
) -> None:
    raw = f"orders-svc:{live[1]['orders-svc']}".encode()
    headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    response = case.call_and_validate(base_url=live[0], headers=headers, checks=CHECKS, timeout=10)
    assert response.status_code < 500

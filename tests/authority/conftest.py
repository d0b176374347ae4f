"""Fixtures: an authority on SQLite per test module, a PostgreSQL database per session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from jwtmesh.authority import create_app

from .helpers import Authority, ServerThread, make_settings, seed

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authority]:
    """One authority on SQLite for a whole test module."""
    settings = make_settings(tmp_path_factory.mktemp("authority"))
    client_secrets = seed(settings)
    with ServerThread(create_app(settings)) as server:
        yield Authority(f"http://127.0.0.1:{server.port}", settings, client_secrets)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database, dropped at the end of the session."""
    name = f"jwtmesh_authority_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""Fixtures: an authority on SQLite per test module, a PostgreSQL database per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jwtmesh.authority import create_app
from support.postgres import pg_database as fresh_pg_database

from .helpers import Authority, ServerThread, make_settings, seed


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
    with fresh_pg_database("jwtmesh_authority") as url:
        yield url

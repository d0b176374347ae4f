"""Fixtures: one store per test, on SQLite and on a throw-away PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from jwtmesh.store import SqlStore
from jwtmesh.store import _schema as schema
from support.postgres import pg_database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database for this session, dropped afterwards."""
    with pg_database("jwtmesh_store") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db')}/store.db"
    url: str = request.getfixturevalue("pg_url")
    _empty_tables(url)
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    """A migrated store; closed after the test."""
    store = SqlStore.open(db_url)
    yield store
    store.close()


def _empty_tables(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        if inspector.has_table("users"):
            with engine.begin() as conn:
                for table in reversed(schema.metadata.sorted_tables):
                    conn.execute(table.delete())
    finally:
        engine.dispose()

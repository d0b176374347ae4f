"""Fixtures: one store per test, on SQLite and on a throw-away PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from jwtmesh.store import SqlStore
from jwtmesh.store import _schema as schema

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database for this session, dropped afterwards."""
    name = f"jwtmesh_store_{uuid.uuid4().hex[:12]}"
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

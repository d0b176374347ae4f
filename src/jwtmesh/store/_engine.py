"""Engines for the two supported databases, and the migration runner."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

__all__ = ["create_engine", "migrate", "migrate_engine"]

logger = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every jwtmesh process.
_PG_MIGRATION_LOCK = 0x6A77746D657368


def create_engine(url: str) -> sa.Engine:
    """An engine for ``sqlite:///path`` or ``postgresql+psycopg://...`` URLs."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(
            parsed, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True
        )
    raise ValueError(f"unsupported database {parsed.get_backend_name()!r} (sqlite or postgresql)")


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    # hide_parameters: an error message must never carry a hash or a token digest.
    engine = sa.create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
    )
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer.  With synchronous=NORMAL a
    # commit is in the WAL file before the HTTP answer leaves, so a crashed or
    # killed authority loses nothing; only a power cut or kernel crash may roll
    # back the last commits (PostgreSQL is the choice where that matters).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _alembic_config() -> Config:
    cfg = Config()
    location = resources.files("jwtmesh.store") / "migrations"
    cfg.set_main_option("script_location", str(location))
    return cfg


def migrate_engine(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the database of ``engine`` to ``revision`` (default: the latest)."""
    cfg = _alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two processes starting together must not both create the tables.
            lock = sa.text("SELECT pg_advisory_xact_lock(:k)")
            connection.execute(lock, {"k": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    logger.info("database schema at revision %s", revision)


def migrate(url: str, revision: str = "head") -> None:
    """Apply the shipped migrations to the database at ``url``."""
    engine = create_engine(url)
    try:
        migrate_engine(engine, revision)
    finally:
        engine.dispose()

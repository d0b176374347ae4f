"""SQLAlchemy Core tables, the shape the latest migration creates.

Times are POSIX seconds in double precision; lists are JSON arrays.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "clients",
    "events",
    "metadata",
    "refresh_tokens",
    "revocations",
    "revoked_sessions",
    "signing_keys",
    "users",
]

metadata = sa.MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(200), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(400), nullable=False),
    sa.Column("roles", sa.JSON(), nullable=False),
    sa.Column("disabled", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
)

clients = sa.Table(
    "clients",
    metadata,
    sa.Column("client_id", sa.String(200), primary_key=True),
    sa.Column("secret_digest", sa.LargeBinary(64), nullable=True),
    sa.Column("grant_types", sa.JSON(), nullable=False),
    sa.Column("audiences", sa.JSON(), nullable=False),
    sa.Column("scopes", sa.JSON(), nullable=False),
    sa.Column("roles", sa.JSON(), nullable=False),
    sa.Column("disabled", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("family_id", sa.String(64), nullable=False, index=True),
    sa.Column("user_id", _ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("client_id", sa.String(200), nullable=False),
    sa.Column("audience", sa.JSON(), nullable=False),
    sa.Column("scope", sa.String(1000), nullable=False),
    sa.Column("issued_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=False, index=True),
    sa.Column("used_at", sa.Double(), nullable=True),
    sa.Column("replaced_by", sa.String(64), nullable=True),
    sa.Column("revoked", sa.Boolean(), nullable=False),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(100), primary_key=True),
    sa.Column("alg", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("sealed_private_key", sa.LargeBinary(), nullable=False),
    sa.Column("public_jwk", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("activated_at", sa.Double(), nullable=True),
    sa.Column("retire_after", sa.Double(), nullable=True),
)

revocations = sa.Table(
    "revocations",
    metadata,
    sa.Column("jti", sa.String(200), primary_key=True),
    sa.Column("expires_at", sa.Double(), nullable=False, index=True),
)

revoked_sessions = sa.Table(
    "revoked_sessions",
    metadata,
    sa.Column("sid", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.Double(), nullable=False, index=True),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("jti", sa.String(200), nullable=True),
    sa.Column("exp", sa.Double(), nullable=False, index=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("sid", sa.String(64), nullable=True),
    # Ids are cursors: SQLite must never hand out an id again after a purge.
    sqlite_autoincrement=True,
)

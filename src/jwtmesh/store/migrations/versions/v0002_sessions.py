"""Session-wide revocation: revoked refresh-token families and ``sid`` feed events.

Adds the ``revoked_sessions`` table (``sid -> expires_at``), lets a feed
event carry a ``sid`` instead of a ``jti``, and makes SQLite event ids
AUTOINCREMENT: ids are the guards' cursors, and without it SQLite would hand
out an id again once a purge had emptied the table.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``revoked_sessions``; add ``events.sid``; ``events.jti`` becomes optional."""
    op.create_table(
        "revoked_sessions",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_revoked_sessions_expires_at", "revoked_sessions", ["expires_at"])
    # On SQLite the table is rebuilt (rows and ids kept); on PostgreSQL: plain ALTERs.
    with op.batch_alter_table(
        "events", recreate="auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.add_column(sa.Column("sid", sa.String(64), nullable=True))
        batch.alter_column("jti", existing_type=sa.String(200), nullable=True)


def downgrade() -> None:
    """Back to 0001: session events and revoked sessions are dropped."""
    op.execute(sa.text("DELETE FROM events WHERE jti IS NULL"))
    with op.batch_alter_table("events") as batch:
        batch.alter_column("jti", existing_type=sa.String(200), nullable=False)
        batch.drop_column("sid")
    op.drop_index("ix_revoked_sessions_expires_at", "revoked_sessions")
    op.drop_table("revoked_sessions")

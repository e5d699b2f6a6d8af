"""Accounts: failed logins, so every origin copy throttles from the same counts.

Revision ID: accounts_0002
Revises: accounts_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "accounts_0002"
down_revision = "accounts_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        # AUTOINCREMENT on SQLite, a bigserial on PostgreSQL: one row per failed login and key.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        # A digest of "account:<username>" or "ip:<address>" (never the typed username itself).
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("failed_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("login_failures_by_subject", "login_failures", ["subject", "failed_at"])
    # Pruning deletes by age across all subjects.
    op.create_index("login_failures_by_time", "login_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_table("login_failures")

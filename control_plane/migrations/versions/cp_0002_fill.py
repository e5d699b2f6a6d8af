"""Fill planning: decayed popularity per site and title, fill schedules, planned manifests.

Revision ID: cp_0002
Revises: cp_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "cp_0002"
down_revision = "cp_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fill_meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "popularity",
        sa.Column("site", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),  # decayed count as of as_of_unix_ms
        sa.Column("as_of_unix_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site", "title"),
    )
    op.create_table(
        "fill_schedules",
        sa.Column("site", sa.Text, primary_key=True),
        sa.Column("start", sa.Text, nullable=False),  # "HH:MM" local; "" when no window
        sa.Column("end", sa.Text, nullable=False),
        sa.Column("tz", sa.Text, nullable=False),
        sa.Column("rate_bits_per_second", sa.BigInteger, nullable=False),
        sa.Column("run_now_until", sa.BigInteger, nullable=False),  # unix seconds; 0: not set
    )
    op.create_table(
        "fill_manifests",
        sa.Column("appliance_id", sa.Text, primary_key=True),
        sa.Column("site", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("entries", sa.Text, nullable=False),  # JSON [[title, bytes], ...], most valuable first
        sa.Column("window", sa.Text, nullable=False),  # JSON object of FillWindow fields
        sa.Column("origin_url", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("fill_manifests", "fill_schedules", "popularity", "fill_meta"):
        op.drop_table(table)

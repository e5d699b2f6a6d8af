"""Catalog: titles, their renditions and the size + checksum of every file.

Revision ID: catalog_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "catalog_0001"
down_revision = None
branch_labels = ("catalog",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "titles",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "renditions",
        sa.Column("title", sa.Text, sa.ForeignKey("titles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("bandwidth", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title", "name"),
    )
    op.create_table(
        "files",
        sa.Column("title", sa.Text, sa.ForeignKey("titles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("cache_key", sa.Text, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
    )
    op.create_index("files_by_title", "files", ["title"])


def downgrade() -> None:
    op.drop_table("files")
    op.drop_table("renditions")
    op.drop_table("titles")

"""Catalog: creator metadata (description, tags, cast, release date), play counts, owner, errors.

Revision ID: catalog_0002
Revises: catalog_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "catalog_0002"
down_revision = "catalog_0001"
branch_labels = None
depends_on = None

_TEXT_COLUMNS = ("description", "tags", "cast_members", "release_date", "owner", "error")


def upgrade() -> None:
    for name in _TEXT_COLUMNS:
        op.add_column("titles", sa.Column(name, sa.Text, nullable=False, server_default=""))
    op.add_column("titles", sa.Column("plays", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "title_tags",
        sa.Column("title", sa.Text, sa.ForeignKey("titles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tag", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("tag", "title"),
    )
    op.create_index("title_tags_by_title", "title_tags", ["title"])
    op.create_index("titles_by_release", "titles", [sa.text("release_date DESC"), sa.text("created DESC")])
    op.create_index("titles_by_plays", "titles", [sa.text("plays DESC")])


def downgrade() -> None:
    op.drop_index("titles_by_plays", "titles")
    op.drop_index("titles_by_release", "titles")
    op.drop_table("title_tags")
    for name in ("plays", *_TEXT_COLUMNS):
        op.drop_column("titles", name)

"""Replicas sharing one database: published appliance statuses, change numbers, the leader lease and
the popularity inbox.

Revision ID: cp_0003
Revises: cp_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "cp_0003"
down_revision = "cp_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appliances") as table:
        # The registry revision (meta 'registry_revision') of the row's last write: replicas read
        # the rows changed since the revision they last saw.
        table.add_column(sa.Column("revision", sa.BigInteger, nullable=False, server_default="0"))
        # The appliance as the fleet snapshot shows it (JSON), and the fleet version that published it.
        table.add_column(sa.Column("status", sa.Text))  # NULL: never published (a row from before cp_0003)
        table.add_column(sa.Column("status_version", sa.BigInteger, nullable=False, server_default="0"))
    op.create_index("appliances_revision", "appliances", ["revision"])
    op.create_index("appliances_status_version", "appliances", ["status_version"])
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),  # e.g. "fill-planner"
        sa.Column("holder", sa.Text, nullable=False),  # replica id
        sa.Column("address", sa.Text, nullable=False),  # the holder's HTTP base URL
        sa.Column("expires_unix_ms", sa.BigInteger, nullable=False),
    )
    # Playback starts reported to a replica that does not plan, until the planning one folds them in.
    op.create_table(
        "popularity_inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("site", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("starts", sa.BigInteger, nullable=False),
        sa.Column("at_unix_ms", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("popularity_inbox")
    op.drop_table("leases")
    op.drop_index("appliances_status_version", "appliances")
    op.drop_index("appliances_revision", "appliances")
    with op.batch_alter_table("appliances") as table:
        table.drop_column("status_version")
        table.drop_column("status")
        table.drop_column("revision")

"""Registry: every appliance's registration, last heartbeat and reported state; the fleet version.

Revision ID: cp_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "cp_0001"
down_revision = None
branch_labels = ("control_plane",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "appliances",
        sa.Column("appliance_id", sa.Text, primary_key=True),
        sa.Column("site", sa.Text, nullable=False),
        sa.Column("http_url", sa.Text, nullable=False),
        sa.Column("capacity_bytes", sa.BigInteger, nullable=False),
        sa.Column("client_prefixes", sa.Text, nullable=False),  # JSON list of CIDR strings
        sa.Column("latitude", sa.Float),  # NULL: location unknown
        sa.Column("longitude", sa.Float),
        sa.Column("registered_unix_ms", sa.BigInteger, nullable=False),
        sa.Column("last_heartbeat_unix_ms", sa.BigInteger),  # NULL: never heartbeated
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("healthy_reported", sa.Integer, nullable=False),
        sa.Column("load", sa.Text, nullable=False),  # JSON object of LoadReport fields
        sa.Column("titles", sa.Text, nullable=False),  # JSON list of title ids
        sa.Column("fill", sa.Text, nullable=False),  # JSON object of FillProgress fields
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_table("appliances")

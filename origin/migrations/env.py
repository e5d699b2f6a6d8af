"""Alembic environment of the origin: runs on the connection (and transaction) streamfleet hands over.

Started only through ``origin.db.Database.upgrade``, which holds the migration lock; there is no
offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context

config = context.config
context.configure(connection=config.attributes["connection"],
                  version_table=config.attributes["version_table"])
with context.begin_transaction():
    context.run_migrations()

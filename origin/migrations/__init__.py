"""Alembic migrations of the origin's databases (branches: catalog, accounts, jobs)."""

"""Alembic migrations of the control plane's database (registry, popularity, schedules, manifests)."""

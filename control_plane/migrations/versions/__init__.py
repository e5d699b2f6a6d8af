"""Alembic revisions of the control plane; never edit a released one, add the next instead."""

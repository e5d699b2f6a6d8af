"""Alembic revisions of the origin; never edit a released one, add the next instead."""

"""Catalog: full-text search (SQLite FTS5, or a weighted tsvector on PostgreSQL) and the typo
fallback's vocabulary (every word and its one-letter deletions; pg_trgm where available).

Revision ID: catalog_0003
Revises: catalog_0002
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "catalog_0003"
down_revision = "catalog_0002"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

_SQLITE = (
    """CREATE VIRTUAL TABLE titles_fts USING fts5(
        name, description, tags, cast_members,
        content='titles', content_rowid='rowid',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3')""",
    """CREATE TRIGGER titles_fts_insert AFTER INSERT ON titles BEGIN
        INSERT INTO titles_fts(rowid, name, description, tags, cast_members)
        VALUES (new.rowid, new.name, new.description, new.tags, new.cast_members); END""",
    """CREATE TRIGGER titles_fts_delete AFTER DELETE ON titles BEGIN
        INSERT INTO titles_fts(titles_fts, rowid, name, description, tags, cast_members)
        VALUES ('delete', old.rowid, old.name, old.description, old.tags, old.cast_members); END""",
    """CREATE TRIGGER titles_fts_update AFTER UPDATE OF name, description, tags, cast_members ON titles BEGIN
        INSERT INTO titles_fts(titles_fts, rowid, name, description, tags, cast_members)
        VALUES ('delete', old.rowid, old.name, old.description, old.tags, old.cast_members);
        INSERT INTO titles_fts(rowid, name, description, tags, cast_members)
        VALUES (new.rowid, new.name, new.description, new.tags, new.cast_members); END""",
    "INSERT INTO titles_fts(titles_fts) VALUES ('rebuild')",
    "CREATE TABLE search_terms (term TEXT PRIMARY KEY) WITHOUT ROWID",
    # Every vocabulary word under itself and each one-letter deletion of it (SymSpell): two words
    # within edit distance 1 always share an entry, found by index lookups alone.
    """CREATE TABLE search_deletes (variant TEXT NOT NULL, term TEXT NOT NULL,
        PRIMARY KEY (variant, term)) WITHOUT ROWID""",
)

# Weights A..D rank name > tags > cast > description, like the FTS5 bm25 weights 10/4/3/1.
_PG = (
    """ALTER TABLE titles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', name), 'A') ||
        setweight(to_tsvector('simple', tags), 'B') ||
        setweight(to_tsvector('simple', cast_members), 'C') ||
        setweight(to_tsvector('simple', description), 'D')) STORED""",
    "CREATE INDEX titles_search ON titles USING gin (search_vector)",
    "CREATE TABLE search_terms (term TEXT PRIMARY KEY)",
    """CREATE TABLE search_deletes (variant TEXT NOT NULL, term TEXT NOT NULL,
        PRIMARY KEY (variant, term))""",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE:
            op.execute(statement)
        return
    for statement in _PG:
        op.execute(statement)
    # pg_trgm is optional (a contrib extension, trusted since PostgreSQL 13): search works
    # without it, only typo tolerance for long words is lost.
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError as exc:
        log.warning("pg_trgm unavailable; typo search uses the deletion index only",
                    extra={"error": str(exc.orig)[:200]})
        return
    op.execute("CREATE INDEX search_terms_trgm ON search_terms USING gin (term gin_trgm_ops)")


def downgrade() -> None:
    op.drop_table("search_deletes")
    op.drop_table("search_terms")
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("titles_fts_insert", "titles_fts_delete", "titles_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE titles_fts")
    else:
        op.execute("DROP INDEX IF EXISTS search_terms_trgm")
        op.drop_index("titles_search", "titles")
        op.drop_column("titles", "search_vector")

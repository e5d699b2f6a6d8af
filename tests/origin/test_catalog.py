"""The catalog contract, run against SQLite and PostgreSQL: publish atomically, cascade, migrate."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from origin.catalog import INGESTING, READY, SCHEMA_REVISION, Catalog, FileInfo, Rendition, Title
from origin.errors import CatalogError, TitleExists, TitleNotFound

RENDITIONS = [Rendition("240p", 426, 240, 450_000), Rendition("720p", 1280, 720, 3_000_000)]
FILES = [FileInfo("film/master.m3u8", 300, "a" * 64), FileInfo("film/720p/seg_00000.m4s", 9000, "b" * 64)]


def test_round_trip(db_target: Path | str) -> None:
    with Catalog(db_target, clock=lambda: 1000.5) as cat:
        reserved = cat.reserve_title("film", "A Film")
        assert reserved == Title("film", "A Film", INGESTING, 0.0, 1000.5)
        assert cat.files("film") == {} and cat.renditions("film") == []
        ready = cat.publish_title("film", 12.5, RENDITIONS, FILES)
        assert ready == Title("film", "A Film", READY, 12.5, 1000.5)
    with Catalog(db_target) as cat:  # reopened: everything persisted
        detail = cat.detail("film")
        assert detail.title == ready
        assert [r.name for r in detail.renditions] == ["720p", "240p"]  # tallest first
        assert detail.files == {f.cache_key: f for f in FILES}
        assert cat.list_titles() == [ready]
        assert cat.schema_revision() == SCHEMA_REVISION


def test_duplicate_and_missing(db_target: Path | str) -> None:
    with Catalog(db_target) as cat:
        cat.reserve_title("film", "A Film")
        with pytest.raises(TitleExists, match="ingesting"):
            cat.reserve_title("film", "Another")
        cat.publish_title("film", 1.0, [], [])
        with pytest.raises(TitleExists, match="ready"):
            cat.publish_title("film", 1.0, [], [])
        with pytest.raises(TitleNotFound):
            cat.get_title("nope")
        with pytest.raises(TitleNotFound):
            cat.detail("nope")
        with pytest.raises(TitleNotFound):
            cat.publish_title("nope", 1.0, [], [])


def test_failed_publish_changes_nothing(db_target: Path | str) -> None:
    with Catalog(db_target) as cat:
        cat.reserve_title("film", "A Film")
        dup = [FILES[0], FILES[0]]  # primary key violation halfway through
        with pytest.raises(IntegrityError):
            cat.publish_title("film", 1.0, RENDITIONS, dup)
        assert cat.get_title("film").status == INGESTING
        assert cat.renditions("film") == [] and cat.files("film") == {}


def test_delete_title_cascades(db_target: Path | str) -> None:
    with Catalog(db_target) as cat:
        cat.reserve_title("film", "A Film")
        cat.publish_title("film", 1.0, RENDITIONS, FILES)
        assert cat.delete_title("film") is True
        assert cat.delete_title("film") is False
        assert cat.list_titles() == [] and cat.files("film") == {}
        cat.reserve_title("film", "Again")  # the id is free again


def test_reader_in_other_connection_sees_whole_titles_only(db_target: Path | str) -> None:
    with Catalog(db_target) as writer, Catalog(db_target) as reader:
        writer.reserve_title("film", "A Film")
        assert reader.get_title("film").status == INGESTING
        writer.publish_title("film", 2.0, RENDITIONS, FILES)
        detail = reader.detail("film")
        assert detail.title.status == READY and len(detail.files) == 2 and len(detail.renditions) == 2


def test_concurrent_publishers_of_one_title_publish_once(db_target: Path | str) -> None:
    with Catalog(db_target) as setup:
        setup.reserve_title("film", "A Film")
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def publish() -> None:
        with Catalog(db_target) as cat:
            barrier.wait()
            try:
                cat.publish_title("film", 1.0, RENDITIONS, FILES)
                outcomes.append("published")
            except TitleExists:
                outcomes.append("exists")

    threads = [threading.Thread(target=publish) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["exists"] * 3 + ["published"]
    with Catalog(db_target) as cat:
        assert len(cat.files("film")) == 2


def test_sqlite_catalog_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    Catalog(path).close()
    probe = sqlite3.connect(path)
    try:
        assert probe.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        probe.close()


def test_newer_schema_is_refused(db_target: Path | str) -> None:
    Catalog(db_target).close()
    with Catalog(db_target) as cat, cat.database.write() as conn:
        conn.exec_driver_sql("UPDATE alembic_version_origin SET version_num = 'catalog_9999' "
                             "WHERE version_num = 'catalog_0003'")
    with pytest.raises(CatalogError, match="newer"):
        Catalog(db_target)


LEGACY_V3 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE titles (id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,
    duration_s REAL NOT NULL DEFAULT 0, created REAL NOT NULL, description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '', cast_members TEXT NOT NULL DEFAULT '',
    release_date TEXT NOT NULL DEFAULT '',
    plays INTEGER NOT NULL DEFAULT 0, owner TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '');
CREATE TABLE renditions (title TEXT NOT NULL REFERENCES titles(id) ON DELETE CASCADE, name TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, bandwidth INTEGER NOT NULL, PRIMARY KEY (title, name));
CREATE TABLE files (title TEXT NOT NULL REFERENCES titles(id) ON DELETE CASCADE,
    cache_key TEXT NOT NULL PRIMARY KEY, size INTEGER NOT NULL, sha256 TEXT NOT NULL);
CREATE TABLE title_tags (title TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (tag, title));
CREATE VIRTUAL TABLE titles_fts USING fts5(name, description, tags, cast_members, content='titles',
    content_rowid='rowid', tokenize='unicode61 remove_diacritics 2', prefix='2 3');
CREATE TRIGGER titles_fts_insert AFTER INSERT ON titles BEGIN
    INSERT INTO titles_fts(rowid, name, description, tags, cast_members)
    VALUES (new.rowid, new.name, new.description, new.tags, new.cast_members); END;
CREATE TABLE search_terms (term TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE search_deletes (variant TEXT NOT NULL, term TEXT NOT NULL,
    PRIMARY KEY (variant, term)) WITHOUT ROWID;
INSERT INTO schema_version VALUES (1), (2), (3);
INSERT INTO titles (id, name, status, created) VALUES ('old', 'Old Film', 'ready', 1.0);
"""


def test_a_catalog_from_before_alembic_is_adopted_not_recreated(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(LEGACY_V3)
    conn.close()
    with Catalog(path) as cat:
        assert cat.schema_revision() == SCHEMA_REVISION
        assert [t.id for t in cat.list_titles()] == ["old"]
        assert [h.id for h in cat.search("old").hits] == ["old"]

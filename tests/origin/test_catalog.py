from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from origin.catalog import INGESTING, READY, SCHEMA_VERSION, Catalog, FileInfo, Rendition, Title
from origin.errors import CatalogError, TitleExists, TitleNotFound

RENDITIONS = [Rendition("240p", 426, 240, 450_000), Rendition("720p", 1280, 720, 3_000_000)]
FILES = [FileInfo("film/master.m3u8", 300, "a" * 64), FileInfo("film/720p/seg_00000.m4s", 9000, "b" * 64)]


def test_round_trip(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite3", clock=lambda: 1000.5) as cat:
        reserved = cat.reserve_title("film", "A Film")
        assert reserved == Title("film", "A Film", INGESTING, 0.0, 1000.5)
        assert cat.files("film") == {} and cat.renditions("film") == []
        ready = cat.publish_title("film", 12.5, RENDITIONS, FILES)
        assert ready == Title("film", "A Film", READY, 12.5, 1000.5)
    with Catalog(tmp_path / "c.sqlite3") as cat:  # reopened: everything persisted
        detail = cat.detail("film")
        assert detail.title == ready
        assert [r.name for r in detail.renditions] == ["720p", "240p"]  # tallest first
        assert detail.files == {f.cache_key: f for f in FILES}
        assert cat.list_titles() == [ready]
        assert cat.schema_version() == SCHEMA_VERSION


def test_duplicate_and_missing(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite3") as cat:
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


def test_failed_publish_changes_nothing(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite3") as cat:
        cat.reserve_title("film", "A Film")
        dup = [FILES[0], FILES[0]]  # primary key violation halfway through
        with pytest.raises(sqlite3.IntegrityError):
            cat.publish_title("film", 1.0, RENDITIONS, dup)
        assert cat.get_title("film").status == INGESTING
        assert cat.renditions("film") == [] and cat.files("film") == {}


def test_delete_title_cascades(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite3") as cat:
        cat.reserve_title("film", "A Film")
        cat.publish_title("film", 1.0, RENDITIONS, FILES)
        assert cat.delete_title("film") is True
        assert cat.delete_title("film") is False
        assert cat.list_titles() == [] and cat.files("film") == {}
        cat.reserve_title("film", "Again")  # the id is free again


def test_reader_in_other_connection_sees_whole_titles_only(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    with Catalog(path) as writer, Catalog(path) as reader:
        assert writer.path == reader.path
        probe = sqlite3.connect(path)
        assert probe.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        probe.close()
        writer.reserve_title("film", "A Film")
        assert reader.get_title("film").status == INGESTING
        writer.publish_title("film", 2.0, RENDITIONS, FILES)
        detail = reader.detail("film")
        assert detail.title.status == READY and len(detail.files) == 2 and len(detail.renditions) == 2


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    Catalog(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(CatalogError, match="newer"):
        Catalog(path)

from __future__ import annotations

from pathlib import Path

import pytest

from origin.config import IngestSettings, OriginConfig, load, parse_bitrate
from streamfleet.config import ConfigError


def test_defaults_work_on_loopback() -> None:
    config = load(None, environ={})
    assert config == OriginConfig()
    assert (config.host, config.port, config.base_url) == ("127.0.0.1", 8000, "http://127.0.0.1:8000")
    assert config.ingest.ladder == ("1080p", "720p", "480p", "240p")
    assert config.ingest.video_bitrates["360p"] == "800k"
    assert config.catalog_path == Path("data/origin/catalog.sqlite3")


def test_file_and_env_overlay(tmp_path: Path) -> None:
    path = tmp_path / "origin.toml"
    path.write_text('port = 9000\npublic_url = "http://origin.example/"\n[ingest]\nladder = ["480p"]\n'
                    '[ingest.video_bitrates]\n480p = "1M"\n')
    config = load(path, environ={"ORIGIN_DATA_DIR": "/srv/origin", "ORIGIN_INGEST__SEGMENT_SECONDS": "6"})
    assert config.port == 9000
    assert config.base_url == "http://origin.example"
    assert config.data_dir == Path("/srv/origin")
    assert config.ingest.ladder == ("480p",)
    assert config.ingest.segment_seconds == 6
    assert parse_bitrate(config.ingest.video_bitrates["480p"]) == 1_000_000


@pytest.mark.parametrize(
    ("env", "word"),
    [
        ({"ORIGIN_PORT": "eighty"}, "port"),
        ({"ORIGIN_INGEST__LADDER": "720p,big"}, "ladder"),
        ({"ORIGIN_INGEST__SEGMENT_SECONDS": "0"}, "segment_seconds"),
        ({"ORIGIN_NOPE": "1"}, "nope"),
        ({"ORIGIN_TOKENS__ACTIVE": "missing"}, "active"),
    ],
)
def test_bad_values_name_the_key(env: dict[str, str], word: str) -> None:
    with pytest.raises(ConfigError, match=word):
        load(None, environ=env)


def test_parse_bitrate() -> None:
    assert parse_bitrate("1400k") == 1_400_000
    assert parse_bitrate("5M") == 5_000_000
    assert parse_bitrate("96000") == 96_000
    assert parse_bitrate("fast") == 0
    assert parse_bitrate("-3k") == 0
    with pytest.raises(ValueError):
        IngestSettings(audio_bitrate="loud")


def test_database_and_object_store_urls() -> None:
    local = load(None, environ={})
    assert (local.catalog_db, local.accounts_db, local.jobs_db) == tuple(
        Path(f"data/origin/{name}.sqlite3") for name in ("catalog", "accounts", "jobs"))
    url = "postgresql://sf:secret@db.example/streamfleet"
    shared = load(None, environ={"ORIGIN_DATABASE_URL": url,
                                 "ORIGIN_OBJECT_STORE_URL": "s3://titles/prod?endpoint=http://minio:9000"})
    assert shared.catalog_db == shared.accounts_db == shared.jobs_db == url
    assert shared.object_store_url.startswith("s3://titles/")
    for key, value in (("DATABASE_URL", "mysql://x/y"), ("OBJECT_STORE_URL", "/just/a/path")):
        with pytest.raises(ConfigError, match=key.lower()):
            load(None, environ={f"ORIGIN_{key}": value})

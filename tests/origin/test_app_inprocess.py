"""The HTTP adapter served by uvicorn in a thread of the test: check order, health, injected clock."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from origin.app import build_app
from origin.catalog import Catalog, FileInfo
from origin.config import OriginConfig
from origin.store_fs import FileObjectStore
from streamfleet.addressing import make_key, master_key
from streamfleet.tokens import TokenSettings, sign

from .servers import serving

NOW = 1_800_000_000.0


@pytest.fixture
def config(tmp_path: Path) -> OriginConfig:
    return OriginConfig(data_dir=tmp_path / "origin")


@pytest.fixture
def client(config: OriginConfig) -> Iterator[httpx.Client]:
    with serving(build_app(config, clock=lambda: NOW)) as c:
        yield c


def publish(config: OriginConfig, title: str, body: bytes = b"#EXTM3U\n") -> None:
    key = master_key(title)
    FileObjectStore(config.objects_dir).put_bytes(key, body)
    info = FileInfo(key.cache_key, len(body), hashlib.sha256(body).hexdigest())
    with Catalog(config.catalog_path) as cat:
        cat.reserve_title(title, title)
        cat.publish_title(title, 1.0, [], [info])


def path_for(title: str, expires_at: float = NOW + 60) -> str:
    return master_key(title).signed_path(sign(TokenSettings().keyring(), title, int(expires_at)))


def test_token_is_checked_before_catalog_and_store(client: httpx.Client, config: OriginConfig,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    publish(config, "film")
    touched: list[str] = []

    def spy(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            touched.append(name)
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(FileObjectStore, "stat", spy("stat", FileObjectStore.stat))
    monkeypatch.setattr(FileObjectStore, "local_path", spy("path", FileObjectStore.local_path))
    monkeypatch.setattr(Catalog, "detail", spy("detail", Catalog.detail))
    expired = client.get(path_for("film", expires_at=NOW - 121))  # the clock is injected
    assert expired.status_code == 403 and touched == []
    assert client.get(path_for("film")).status_code == 200
    assert touched[0] == "detail" and set(touched) == {"detail", "path", "stat"}


def test_clock_and_leeway(client: httpx.Client, config: OriginConfig) -> None:
    publish(config, "film")
    assert client.get(path_for("film", expires_at=NOW - 119)).status_code == 200
    assert client.get(path_for("film", expires_at=NOW - 121)).status_code == 403


def test_title_being_ingested_is_not_served(client: httpx.Client, config: OriginConfig) -> None:
    with Catalog(config.catalog_path) as cat:
        cat.reserve_title("busy", "Busy")
    FileObjectStore(config.objects_dir).put_bytes(master_key("busy"), b"partial")
    detail = client.get("/v1/titles/busy").json()
    assert detail["status"] == "ingesting" and detail["files"] == {} and detail["renditions"] == []
    response = client.get(path_for("busy"))
    assert response.status_code == 404 and response.json()["error"]["status"] == 404


def test_catalogued_but_missing_object_is_404(client: httpx.Client, config: OriginConfig) -> None:
    publish(config, "film")
    FileObjectStore(config.objects_dir).delete(master_key("film"))
    assert client.get(path_for("film")).status_code == 404
    tok = sign(TokenSettings().keyring(), "film", int(NOW) + 9)
    other = make_key("film", "240p", "init.mp4").signed_path(tok)
    assert client.get(other).status_code == 404


def test_health_turns_503_when_the_store_is_gone(client: httpx.Client, config: OriginConfig) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "service": "origin"}
    config.objects_dir.rmdir()
    sick = client.get("/healthz")
    assert sick.status_code == 503 and sick.json()["status"] == "unhealthy"


def test_metrics_registry_is_per_app(config: OriginConfig) -> None:
    with serving(build_app(config)) as first, serving(build_app(config)) as second:
        first.get("/healthz")
        assert 'route="healthz"' in first.get("/metrics").text
        assert 'route="healthz"' not in second.get("/metrics").text


def test_title_ingested_by_another_writer_appears_while_serving(client: httpx.Client, config: OriginConfig,
                                                                 clip_240_silent: Path) -> None:
    from origin.ingest import ingest

    assert client.get("/v1/titles/late").status_code == 404
    ingest(config, clip_240_silent, "Late", "late")  # its own catalog connection, as the CLI has
    detail = client.get("/v1/titles/late").json()
    assert detail["status"] == "ready" and "late/240p/seg_00000.m4s" in detail["files"]
    tok = sign(TokenSettings().keyring(), "late", int(NOW) + 60)
    segment = client.get(make_key("late", "240p", "seg_00000.m4s").signed_path(tok))
    assert segment.status_code == 200
    assert hashlib.sha256(segment.content).hexdigest() == detail["files"]["late/240p/seg_00000.m4s"]["sha256"]

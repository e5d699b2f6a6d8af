"""ControlPlaneConfig: defaults, TOML, CONTROL_PLANE_* overrides and start-up errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from control_plane.config import ControlPlaneConfig, load
from streamfleet.config import ConfigError


def test_defaults_work_without_anything() -> None:
    config = load(None, environ={})
    assert config == ControlPlaneConfig()
    assert (config.host, config.grpc_port, config.http_port) == ("127.0.0.1", 50051, 8090)
    assert config.db_path == Path("data/control_plane/registry.sqlite3")
    assert (config.heartbeat_interval_ms, config.down_after_ms) == (1000, 3000)
    assert config.fleet_secret == "streamfleet-dev-fleet-secret"
    assert config.appliance_secrets == {}


def test_toml_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "cp.toml"
    path.write_text(
        'grpc_port = 6000\ndb_path = "/tmp/x.sqlite3"\ndegraded_error_ratio = 0.1\n'
        '[appliance_secrets]\na1 = "one"\n'
    )
    config = load(path, environ={"CONTROL_PLANE_GRPC_PORT": "6001",
                                 "CONTROL_PLANE_APPLIANCE_SECRETS": "a2=two,a3=three"})
    assert config.grpc_port == 6001
    assert config.db_path == Path("/tmp/x.sqlite3")
    assert config.degraded_error_ratio == 0.1
    assert config.appliance_secrets == {"a2": "two", "a3": "three"}


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("grpc_port = 70000\n", "grpc_port"),
        ("down_after_ms = 500\n", "down_after_ms"),
        ("log_level = 'loud'\n", "log_level"),
        ("degraded_error_ratio = 2.0\n", "degraded_error_ratio"),
        ("hearbeat_interval_ms = 5\n", "hearbeat_interval_ms"),
        ("grpc_port = 'x'\n", "grpc_port"),
        ("database_url = 'mysql://db/x'\n", "database_url"),
        ("leader_lease_ms = 100\n", "leader_lease_ms"),
        ("advertise_url = 'control-plane:8090'\n", "advertise_url"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, names: str) -> None:
    path = tmp_path / "cp.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=names):
        load(path, environ={})


def test_database_url_replaces_db_path() -> None:
    assert load(None, environ={}).database == Path("data/control_plane/registry.sqlite3")
    url = "postgresql://sf:secret@db.example/streamfleet"
    assert load(None, environ={"CONTROL_PLANE_DATABASE_URL": url}).database == url


def test_replicas_advertise_where_their_http_api_is() -> None:
    assert load(None, environ={"CONTROL_PLANE_HTTP_PORT": "9100"}).http_base_url == "http://127.0.0.1:9100"
    advertised = load(None, environ={"CONTROL_PLANE_ADVERTISE_URL": "http://cp-2.internal:8090/"})
    assert advertised.http_base_url == "http://cp-2.internal:8090"

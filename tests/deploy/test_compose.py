"""deploy/: compose.yaml parses and hangs together with its configs, Prometheus, HAProxy, Grafana."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from streamfleet.configcheck import check_file
from streamfleet.configref import ROLES, config_class

from .conftest import DEPLOY

STREAMFLEET_IMAGE = "streamfleet:"
# First command word -> config role.
ROLE_OF = {name: name for name in ("origin", "control-plane", "steering", "appliance")}


def _load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


COMPOSE = _load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
FLEET = {name: s for name, s in SERVICES.items() if str(s.get("image", "")).startswith(STREAMFLEET_IMAGE)}
RUNNING = {name: s for name, s in FLEET.items() if not s.get("profiles")}


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (relative to deploy/) or volume name."""
    out = {}
    for spec in service.get("volumes", []):
        source, target = spec.split(":")[:2]
        out[target] = source
    return out


def _config_of(service: dict[str, Any]) -> tuple[str, Path]:
    """(role, host path of the --config file) of a streamfleet service."""
    command = service["command"]
    target = command[command.index("--config") + 1]
    return ROLE_OF[command[0]], (DEPLOY / _mounts(service)[target]).resolve()


def _toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def test_the_fleet_has_every_role() -> None:
    commands = [tuple(s["command"][:2]) for s in RUNNING.values()]
    assert commands.count(("steering", "serve")) >= 2
    for needed in [("origin", "serve"), ("origin", "worker"), ("control-plane", "serve")]:
        assert needed in commands
    sites = {_toml(_config_of(s)[1])["site"] for s in RUNNING.values() if s["command"][0] == "appliance"}
    assert len(sites) >= 2, f"appliances in two sites, got {sites}"
    images = {str(s.get("image", "")).split(":")[0] for s in SERVICES.values()}
    assert {"haproxy", "prom/prometheus", "grafana/grafana"} <= images


def test_every_mounted_file_exists() -> None:
    for name, service in SERVICES.items():
        for target, source in _mounts(service).items():
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} (mounted at {target}) does not exist"
            else:
                assert source in COMPOSE["volumes"], f"{name}: volume {source} is not declared"


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = str(service.get("image", ""))
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image!r} is not pinned"


@pytest.mark.parametrize("words", sorted({tuple(s["command"][:2]) for s in FLEET.values()}))
def test_each_command_is_accepted_by_the_cli(words: tuple[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "streamfleet.cli", *words, "--help"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"streamfleet {' '.join(words)} --help: {done.stderr}"


@pytest.mark.parametrize("name", sorted(n for n, s in FLEET.items() if "--config" in s["command"]))
def test_each_mounted_config_passes_config_check(name: str) -> None:
    role, path = _config_of(FLEET[name])
    problems = check_file(config_class(role), path, ROLES[role].env_prefix)
    assert problems == [], f"{path.name}: {[str(p) for p in problems]}"


def test_every_deploy_config_passes_config_check() -> None:
    for path in sorted((DEPLOY / "config").glob("*.toml")):
        role = "appliance" if path.stem.startswith("appliance-") else path.stem
        problems = check_file(config_class(role), path, ROLES[role].env_prefix)
        assert problems == [], f"{path.name}: {[str(p) for p in problems]}"


def _port(role: str, config: dict[str, Any]) -> int:
    return int(config["http_port" if role == "control-plane" else "port"])


def test_healthchecks_probe_the_configured_port() -> None:
    for name, service in RUNNING.items():
        check = service.get("healthcheck", {})
        if check.get("disable"):
            assert service["command"][:2] == ["origin", "worker"], f"{name} has no health check"
            continue
        role, path = _config_of(service)
        test = check.get("test", ["CMD", "streamfleet", "healthcheck", "http://127.0.0.1:8081/healthz"])
        url = urlsplit(test[-1])
        assert url.path == "/healthz" and url.port == _port(role, _toml(path)), name


def test_data_lives_on_volumes() -> None:
    keys = {"origin": "data_dir", "appliance": "data_dir", "control-plane": "db_path"}
    for name, service in RUNNING.items():
        role, path = _config_of(service)
        if role not in keys:
            continue
        data = Path(_toml(path)[keys[role]])
        targets = [Path(t) for t, source in _mounts(service).items() if not source.startswith(".")]
        assert any(data == t or t in data.parents for t in targets), f"{name}: {data} is not on a volume"


def test_prometheus_scrapes_every_service_on_its_port() -> None:
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = {t for job in prom["scrape_configs"] for group in job["static_configs"]
               for t in group["targets"]}
    for name, service in RUNNING.items():
        if "healthcheck" in service and service["healthcheck"].get("disable"):
            continue  # no HTTP port (origin worker)
        role, path = _config_of(service)
        assert f"{name}:{_port(role, _toml(path))}" in targets, f"{name} is not scraped"
    hosts = {t.split(":")[0] for t in targets}
    assert hosts <= set(SERVICES), f"scrape targets that are not services: {hosts - set(SERVICES)}"
    appliance_groups = [g for job in prom["scrape_configs"] if job["job_name"] == "appliance"
                        for g in job["static_configs"]]
    for group in appliance_groups:
        (target,) = group["targets"]
        config = _toml(_config_of(SERVICES[target.split(":")[0]])[1])
        assert group["labels"] == {"site": config["site"], "appliance": config["id"]}


def test_haproxy_balances_the_steering_replicas() -> None:
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    servers = re.findall(r"^\s*server\s+\S+\s+(\S+):(\d+)", cfg, re.MULTILINE)
    replicas = {n for n, s in RUNNING.items() if s["command"][0] == "steering"}
    assert {host for host, _ in servers} == replicas
    for host, port in servers:
        assert int(port) == _port("steering", _toml(_config_of(SERVICES[host])[1]))
    assert "option httpchk GET /healthz" in cfg
    proxy_ip = SERVICES["steering"]["networks"]["fleet"]["ipv4_address"]
    trusted = _toml(_config_of(SERVICES["steering-1"])[1])["trusted_proxies"]
    assert trusted == [f"{proxy_ip}/32"], "steering trusts X-Forwarded-For from HAProxy only"


def test_haproxy_accepts_its_config(haproxy: str) -> None:
    done = subprocess.run([haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_prometheus_config_and_rules(promtool: str, tmp_path: Path) -> None:
    # rule_files names the container path; check the same files side by side here.
    prom = (DEPLOY / "prometheus.yml").read_text().replace("/etc/prometheus/alerts.yml", "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(prom)
    shutil.copy(DEPLOY / "alerts.yml", tmp_path / "alerts.yml")
    for args in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"]):
        done = subprocess.run([promtool, *args], cwd=tmp_path, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_dashboard_uses_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    dashboard = json.loads((DEPLOY / "grafana/streamfleet.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels and len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/streamfleet.yaml").read_text())
    folder = providers["providers"][0]["options"]["path"]
    mounts = _mounts(SERVICES["grafana"])
    assert mounts[f"{folder}/streamfleet.json"] == "./grafana/streamfleet.json"


def test_central_state_goes_to_postgres_and_minio() -> None:
    postgres = SERVICES["postgres"]["environment"]
    minio = SERVICES["minio"]["environment"]
    for name in ("origin", "origin-worker", "control-plane"):
        url = urlsplit(_toml(_config_of(SERVICES[name])[1])["database_url"])
        assert url.scheme == "postgresql" and url.hostname == "postgres", name
        assert url.username == postgres["POSTGRES_USER"] and url.password == postgres["POSTGRES_PASSWORD"]
        assert url.path == f"/{postgres['POSTGRES_DB']}", name
    for name in ("origin", "control-plane"):
        assert SERVICES[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
    assert SERVICES["origin"]["depends_on"]["minio-init"] == {"condition": "service_completed_successfully"}
    bucket = SERVICES["minio-init"]["entrypoint"][-1].split("/")[-1]
    for name in ("origin", "origin-worker"):
        store = urlsplit(_toml(_config_of(SERVICES[name])[1])["object_store_url"])
        endpoint = urlsplit(dict(p.split("=", 1) for p in store.query.split("&"))["endpoint"])
        assert store.scheme == "s3" and store.netloc == bucket and endpoint.hostname == "minio", name
        env = SERVICES[name]["environment"]
        assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"], name
        assert env["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"], name

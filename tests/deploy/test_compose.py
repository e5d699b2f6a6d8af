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
    assert commands.count(("origin", "serve")) >= 2
    for needed in [("origin", "worker"), ("control-plane", "serve")]:
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


def _haproxy_sections() -> dict[str, list[str]]:
    """haproxy.cfg as "kind name" -> its lines (stripped, comments dropped)."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in (DEPLOY / "haproxy.cfg").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            current = sections.setdefault(line.strip(), [])
        else:
            current.append(line.strip())
    return sections


HAPROXY = next(n for n, s in SERVICES.items() if str(s.get("image", "")).startswith("haproxy:"))


@pytest.mark.parametrize(("role", "port"), [("steering", 8080), ("origin", 8000)])
def test_haproxy_balances_the_copies_of(role: str, port: int) -> None:
    sections = _haproxy_sections()
    assert f"bind :{port}" in sections[f"frontend {role}"]
    assert f"default_backend {role}" in sections[f"frontend {role}"]
    # Clients' own X-Forwarded-For is dropped, HAProxy's put in its place.
    frontend = sections[f"frontend {role}"]
    assert frontend.index("http-request del-header X-Forwarded-For") < frontend.index("option forwardfor")
    backend = sections[f"backend {role}"]
    servers = [re.fullmatch(r"server\s+\S+\s+(\S+):(\d+)", line) for line in backend
               if line.startswith("server ")]
    copies = {n for n, s in RUNNING.items() if s["command"][:2] == [role, "serve"]}
    assert len(copies) >= 2 and {m.group(1) for m in servers if m} == copies
    for match in servers:
        assert match is not None
        assert int(match.group(2)) == _port(role, _toml(_config_of(SERVICES[match.group(1)])[1]))
    assert "option httpchk GET /healthz" in backend and "http-check expect status 200" in backend
    assert any(line.startswith("default-server check") for line in backend)
    # The service name everyone uses is HAProxy's, on the port it binds.
    proxy = SERVICES[HAPROXY]
    assert role in proxy["networks"]["fleet"]["aliases"] and role not in SERVICES
    assert f"{port}:{port}" in proxy["ports"]
    for copy in copies:
        assert copy in proxy["depends_on"]
    proxy_ip = proxy["networks"]["fleet"]["ipv4_address"]
    for copy in copies:
        trusted = _toml(_config_of(SERVICES[copy])[1])["trusted_proxies"]
        assert trusted == [f"{proxy_ip}/32"], f"{copy} trusts X-Forwarded-For from HAProxy only"


def test_everyone_reaches_the_origin_through_haproxy() -> None:
    aliases = SERVICES[HAPROXY]["networks"]["fleet"]["aliases"]
    for name, service in RUNNING.items():
        role, path = _config_of(service)
        config = _toml(path)
        for key in ("origin_url", "public_url") if role == "origin" else ("origin_url",):
            if key in config:
                url = urlsplit(config[key])
                assert url.hostname in aliases and url.port == 8000, f"{name}: {key} = {config[key]}"


def _seconds(text: str) -> float:
    """An HAProxy time ("500ms", "30s", "2m"; a bare number is milliseconds) in seconds."""
    match = re.fullmatch(r"(\d+)(ms|s|m)?", text)
    assert match is not None, text
    return int(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 0.001}[match.group(2)]


def test_uploads_are_not_replayed_and_have_time_to_finish() -> None:
    backend = _haproxy_sections()["backend origin"]
    # Only a failed connection (nothing sent) is retried: a PATCH body is never sent twice.
    assert "retry-on conn-failure" in backend
    assert "option http-buffer-request" not in backend
    timeouts = {line.split()[1]: line.split()[2] for line in backend if line.startswith("timeout ")}
    frontend = {line.split()[1]: line.split()[2] for line in _haproxy_sections()["frontend origin"]
                if line.startswith("timeout ")}

    # HAProxy must not give up on an upload before the origin does (body_idle_timeout_seconds).
    origin = _toml(_config_of(SERVICES["origin-1"])[1]).get("http", {})
    idle = float(origin.get("body_idle_timeout_seconds", 30.0))
    assert _seconds(frontend["client"]) > idle and _seconds(timeouts["server"]) >= 60


def test_origin_copies_and_workers_share_one_data_volume() -> None:
    mounts = set()
    for service in RUNNING.values():
        if service["command"][0] == "origin":
            data_dir = _toml(_config_of(service)[1])["data_dir"]
            mounts.add(_mounts(service)[data_dir])
    assert len(mounts) == 1 and next(iter(mounts)) in COMPOSE["volumes"], mounts


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
    for name in ("origin-1", "origin-2", "origin-worker", "control-plane"):
        url = urlsplit(_toml(_config_of(SERVICES[name])[1])["database_url"])
        assert url.scheme == "postgresql" and url.hostname == "postgres", name
        assert url.username == postgres["POSTGRES_USER"] and url.password == postgres["POSTGRES_PASSWORD"]
        assert url.path == f"/{postgres['POSTGRES_DB']}", name
    for name in ("origin-1", "origin-2", "control-plane"):
        assert SERVICES[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
    for name in ("origin-1", "origin-2"):
        assert SERVICES[name]["depends_on"]["minio-init"] == {"condition": "service_completed_successfully"}
    bucket = SERVICES["minio-init"]["entrypoint"][-1].split("/")[-1]
    for name in ("origin-1", "origin-2", "origin-worker"):
        store = urlsplit(_toml(_config_of(SERVICES[name])[1])["object_store_url"])
        endpoint = urlsplit(dict(p.split("=", 1) for p in store.query.split("&"))["endpoint"])
        assert store.scheme == "s3" and store.netloc == bucket and endpoint.hostname == "minio", name
        env = SERVICES[name]["environment"]
        assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"], name
        assert env["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"], name

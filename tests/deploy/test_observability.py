"""Every service's /metrics passes ``promtool check metrics``, and the dashboard and alerts use only
metric names the services really expose. Starts a real fleet on loopback."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from streamfleet.launcher import ApplianceSpec, Fleet

from .conftest import DEPLOY

pytestmark = pytest.mark.e2e

TITLE = "observability-clip"
SERVICES = ("origin", "control-plane", "steering", "east-1", "west-1")
# Prefixes of the fleet's own metric names (anything else in an expression is PromQL or Prometheus').
OWN_PREFIXES = ("streamfleet_", "origin_", "control_plane_", "steering_")


@pytest.fixture(scope="module")
def scrapes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """/metrics text of every service after real traffic (a title ingested and fetched through
    steering and an appliance, plus refused requests), so labelled series and histograms exist."""
    workdir = tmp_path_factory.mktemp("observability")
    appliances = [ApplianceSpec("east-1", "east", ("127.0.0.0/8",)),
                  ApplianceSpec("west-1", "west", ("127.77.0.0/16",))]
    fleet = Fleet(workdir, appliances=appliances, extra={"steering": {"require_session": False}})
    with fleet:
        fleet.start()
        clip = workdir / "clip.mp4"
        made = fleet.run_cli("testclip", str(clip), "--seconds", "4", "--width", "320", "--height", "180",
                             "--no-audio")
        assert made.returncode == 0, made.stderr
        fleet.ingest(clip, "Observability Clip", TITLE)
        fleet.wait_for_fleet(2)
        urls = {"origin": fleet.origin_url, "control-plane": fleet.control_plane_http,
                "steering": fleet.steering_url, "east-1": fleet.appliance_url("east-1"),
                "west-1": fleet.appliance_url("west-1")}
        with httpx.Client(timeout=10.0) as client:
            answer = client.post(fleet.steering_url + "/v1/playback", json={"title": TITLE})
            assert answer.status_code == 200, answer.text
            first = next(u["url"] for u in answer.json()["urls"] if u["kind"] == "appliance")
            assert client.get(first).headers["x-cache"] == "MISS"
            assert client.get(first).headers["x-cache"] == "HIT"
            bad_file = f"/s/dev.1.AAAA/{TITLE}/master.m3u8"
            for url in (fleet.appliance_url("east-1"), fleet.appliance_url("west-1"), fleet.origin_url):
                assert client.get(url + bad_file).status_code == 403
            playback = fleet.steering_url + "/v1/playback"
            assert client.post(playback, json={"title": "no-such"}).status_code == 404
            assert client.post(playback, content=b"{").status_code == 400
            client.get(fleet.control_plane_http + "/v1/fleet").raise_for_status()
            yield {name: client.get(url + "/metrics").raise_for_status().text for name, url in urls.items()}


@pytest.mark.parametrize("service", SERVICES)
def test_promtool_finds_no_problems(service: str, scrapes: dict[str, str], promtool: str) -> None:
    done = subprocess.run([promtool, "check", "metrics"], input=scrapes[service],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout + done.stderr) == (0, ""), \
        f"promtool check metrics on {service}:\n{done.stdout}{done.stderr}"


def exposed_names(text: str) -> set[str]:
    """Sample names a scrape can hold, from TYPE lines (series may have no samples yet) and samples."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            names.add(name)
            if kind == "counter":
                names.add(name.removesuffix("_total") + "_total")
            if kind == "histogram":
                names.update(f"{name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def referenced_names(expressions: list[str]) -> set[str]:
    names: set[str] = set()
    for expr in expressions:
        expr = re.sub(r'"[^"]*"', '""', expr)  # label values are not names
        names.update(n for n in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr) if n.startswith(OWN_PREFIXES))
    return names


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana/streamfleet.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"]]
    return exprs


def _alert_expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_only_exposed_metrics_are_used(source: str, scrapes: dict[str, str]) -> None:
    exposed = set().union(*(exposed_names(t) for t in scrapes.values()))
    exprs = _dashboard_expressions() if source == "dashboard" else _alert_expressions()
    used = referenced_names(exprs)
    assert used, "the expressions name no fleet metric at all"
    assert used - exposed == set(), f"{source} uses metrics no service exposes: {sorted(used - exposed)}"


def test_docs_name_only_exposed_metrics(scrapes: dict[str, str]) -> None:
    exposed = set().union(*(exposed_names(t) for t in scrapes.values()))
    for page in ("isp-appliance.md", "origin-operator.md"):
        text = (Path(DEPLOY.parent) / "docs" / page).read_text()
        used = {n for n in re.findall(r"`([a-z_]+)", text)
                if n.startswith(OWN_PREFIXES) and n.count("_") >= 2}
        assert used - exposed == set(), f"docs/{page} names unknown metrics: {sorted(used - exposed)}"

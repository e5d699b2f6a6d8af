"""deploy/haproxy.cfg's origin frontend and backend, run for real on loopback in front of two origin
processes sharing one data directory: a tus upload spreads over both copies, the access log names
the client behind the proxy, and a stopped copy costs no request and is marked down.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from origin.testclip import generate_test_clip
from origin.tus_client import ResumeState, TusUploader, upload_file
from streamfleet.launcher import DEV_KEY, SESSION_KEY, ServiceProcess, free_port, streamfleet_argv, write_toml

from .conftest import DEPLOY

PASSWORD = "correct horse battery"
# The test's viewer connects from this loopback address; HAProxy reaches the origins from 127.0.0.1.
CLIENT_IP = "127.0.0.2"


def loopback_config(origins: dict[str, int], port: int) -> str:
    """The global, defaults and origin sections of deploy/haproxy.cfg, bound and pointed at loopback
    (no Docker DNS here); every other line as deployed."""
    out: list[str] = []
    keep = False
    for line in (DEPLOY / "haproxy.cfg").read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            keep = line.strip() in ("global", "defaults", "frontend origin", "backend origin")
        if not keep:
            continue
        stripped = line.strip()
        if stripped.startswith("bind "):
            line = f"    bind 127.0.0.1:{port}"
        elif stripped.startswith("default-server "):
            line = re.sub(r"\s+resolvers \S+|\s+init-addr \S+", "", line)
        elif stripped.startswith("maxconn "):
            line = "    maxconn 1000"  # what a test's file-descriptor limit allows
        elif stripped.startswith("server "):
            name = stripped.split()[1]
            line = f"    server {name} 127.0.0.1:{origins[name]}"
        out.append(line)
    return "\n".join(out) + "\n"


@dataclass
class Balanced:
    url: str
    origins: dict[str, ServiceProcess]
    balancer: ServiceProcess


@pytest.fixture(scope="module")
def balanced(haproxy: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Balanced]:
    workdir = tmp_path_factory.mktemp("haproxy-origin")
    ports = {"origin-1": free_port(), "origin-2": free_port()}
    processes: list[ServiceProcess] = []
    origins = {}
    try:
        for name, port in ports.items():
            config = write_toml(workdir / f"{name}.toml", {
                "port": port, "data_dir": workdir / "shared-data", "trusted_proxies": ["127.0.0.1/32"],
                "tokens": {"keys": {"demo": DEV_KEY}, "active": "demo"},
                "sessions": {"keys": {"demo": SESSION_KEY}, "active": "demo"},
                "pipeline": {"workers": 0},
                "accounts": {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}})
            proc = ServiceProcess(name, streamfleet_argv("origin", "serve", "--config", str(config)),
                                  workdir / f"{name}.log", f"http://127.0.0.1:{port}/healthz")
            processes.append(proc)
            origins[name] = proc
            proc.start()
        for proc in processes:
            proc.wait_healthy(60)
        port = free_port()
        cfg = workdir / "haproxy.cfg"
        cfg.write_text(loopback_config(ports, port))
        balancer = ServiceProcess("haproxy", [haproxy, "-db", "-f", str(cfg)], workdir / "haproxy.log",
                                  f"http://127.0.0.1:{port}/healthz")
        processes.append(balancer)
        balancer.start()
        balancer.wait_healthy(30)
        yield Balanced(f"http://127.0.0.1:{port}", origins, balancer)
    finally:
        for proc in reversed(processes):
            proc.stop()


def _access_lines(proc: ServiceProcess) -> list[dict[str, Any]]:
    lines = []
    for text in proc.log_path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(text)
            if record.get("msg") == "request":
                lines.append(record)
    return lines


def test_an_upload_through_the_balancer_spreads_over_both_copies(balanced: Balanced, tmp_path: Path) -> None:
    transport = httpx.HTTPTransport(local_address=CLIENT_IP)
    with httpx.Client(base_url=balanced.url, transport=transport, timeout=30) as client:
        creator = {"username": "studio", "password": PASSWORD, "role": "creator"}
        assert client.post("/v1/accounts", json=creator).status_code == 201
        login = client.post("/v1/sessions", json=creator, headers={"X-Forwarded-For": "203.0.113.9"})
        assert login.status_code == 201
        token = login.json()["token"]
    clip = generate_test_clip(tmp_path / "clip.mp4", seconds=2, width=320, height=180, fps=24)
    with TusUploader(f"{balanced.url}/v1/uploads", token, chunk_size=16 * 1024) as uploader:
        outcome = upload_file(uploader, clip, {"title": "Balanced"}, ResumeState(tmp_path / "state.json"))
    assert outcome.title == "balanced"
    patches = {name: [line for line in _access_lines(proc) if line["method"] == "PATCH"]
               for name, proc in balanced.origins.items()}
    assert all(patches.values()), {name: len(lines) for name, lines in patches.items()}
    assert all(line["status"] == 204 for lines in patches.values() for line in lines)
    # The viewer's own address is logged, not HAProxy's, and what the viewer claimed was dropped.
    [logged] = [line for proc in balanced.origins.values() for line in _access_lines(proc)
                if line["path"] == "/v1/sessions"]
    assert (logged["client"], logged["peer"]) == (CLIENT_IP, "127.0.0.1")


def test_a_stopped_copy_costs_no_request_and_is_marked_down(balanced: Balanced) -> None:
    assert balanced.origins["origin-2"].stop() == 0
    started = time.monotonic()
    # Connections refused by the stopped copy are redispatched to the other one at once.
    for _ in range(20):
        assert httpx.get(f"{balanced.url}/v1/titles", timeout=10).status_code == 200
    deadline = time.monotonic() + 15
    while "origin/origin-2 is DOWN" not in balanced.balancer.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, balanced.balancer.tail_log()
        time.sleep(0.2)
    assert time.monotonic() - started < 10  # at most `fall` failed checks, `inter` apart

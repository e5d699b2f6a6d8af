"""Start and stop a whole fleet as separate processes on loopback (demo, e2e tests, benchmarks).

Every service runs as its own ``streamfleet ... serve`` process with a generated TOML config;
nothing here imports a service. Processes are stopped with SIGTERM (then SIGKILL) by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from streamfleet.signals import sigterm_as_interrupt

DEV_KEY = "streamfleet-demo-key-0123456789abcdef"
FLEET_SECRET = "streamfleet-demo-fleet-secret"
SESSION_KEY = "streamfleet-demo-session-key-0123456789"


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that were free on 127.0.0.1 a moment ago. Calling free_port()
    ``count`` times may hand out one port twice (the kernel reuses a port as soon as it is closed),
    and two services of one fleet on one port means one of them never starts."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_toml(path: Path, data: Mapping[str, Any]) -> Path:
    """Write a flat-or-one-level-nested mapping as TOML (tables after plain keys)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines.extend(f"{kk} = {toml_value(vv)}" for kk, vv in v.items())
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class ServiceProcess:
    """One service process; its stdout/stderr go to ``log_path``."""

    name: str
    argv: list[str]
    log_path: Path
    health_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed on stop
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env}, start_new_session=True,
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Poll the health URL until it answers 200. Raises RuntimeError naming the service."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early; log:\n{self.tail_log()}")
            if self.health_url is None:
                return
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.health_url, timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not healthy after {timeout:.0f}s; log:\n{self.tail_log()}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait, then SIGKILL. Returns the exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the rest of the fleet can tell."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def tail_log(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def streamfleet_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamfleet.cli", *args]


@dataclass(frozen=True)
class ApplianceSpec:
    id: str
    site: str
    prefixes: tuple[str, ...] = ()
    capacity_bytes: int = 1 << 30
    latitude: float = 0.0
    longitude: float = 0.0


DEMO_APPLIANCES = (
    ApplianceSpec("east-1", "east", ("127.0.0.0/8",), latitude=40.7, longitude=-74.0),
    ApplianceSpec("east-2", "east", ("127.0.0.0/8",), latitude=40.7, longitude=-74.0),
    ApplianceSpec("west-1", "west", ("127.77.0.0/16",), latitude=37.8, longitude=-122.4),
)


class Fleet:
    """A fleet on 127.0.0.1: origin, control plane, steering and appliances, each a process.

    Use as a context manager; every process started is stopped on exit, also on exceptions.
    """

    def __init__(
        self,
        workdir: Path,
        appliances: Sequence[ApplianceSpec] = DEMO_APPLIANCES,
        heartbeat_ms: int = 500,
        down_after_ms: int = 1500,
        extra: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.workdir = workdir
        self.specs = list(appliances)
        self.heartbeat_ms = heartbeat_ms
        self.down_after_ms = down_after_ms
        self.extra = extra or {}
        names = ["origin", "cp_grpc", "cp_http", "steering", *(s.id for s in self.specs)]
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.processes: dict[str, ServiceProcess] = {}
        (workdir / "logs").mkdir(parents=True, exist_ok=True)
        (workdir / "config").mkdir(parents=True, exist_ok=True)

    # -- addresses -------------------------------------------------------------------------
    @property
    def origin_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['origin']}"

    @property
    def steering_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['steering']}"

    @property
    def control_plane_addr(self) -> str:
        return f"127.0.0.1:{self.ports['cp_grpc']}"

    @property
    def control_plane_http(self) -> str:
        return f"http://127.0.0.1:{self.ports['cp_http']}"

    def appliance_url(self, appliance_id: str) -> str:
        return f"http://127.0.0.1:{self.ports[appliance_id]}"

    # -- configs ---------------------------------------------------------------------------
    def _sessions(self) -> dict[str, Any]:
        return {"keys": {"demo": SESSION_KEY}, "active": "demo"}

    def viewer_session(self, user_id: str = "demo-viewer", role: str = "viewer", ttl: int = 3600) -> str:
        """A session token the fleet's services accept, signed with the fleet's session key.

        A negative ``ttl`` gives a session that expired ``-ttl`` seconds ago (for tests).
        """
        from streamfleet.sessions import issue_session
        from streamfleet.tokens import Keyring

        ring = Keyring.from_strings(self._sessions()["keys"], self._sessions()["active"])
        now = time.time()
        if ttl > 0:
            return issue_session(ring, user_id, role, now, ttl)
        return issue_session(ring, user_id, role, now + 2 * ttl, -ttl)

    def _tokens(self) -> dict[str, Any]:
        return {"keys": {"demo": DEV_KEY}, "active": "demo"}

    def config_path(self, role: str) -> Path:
        return self.workdir / "config" / f"{role}.toml"

    def origin_config(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.ports["origin"], "data_dir": self.workdir / "origin",
                "tokens": self._tokens(), "sessions": self._sessions(), **self.extra.get("origin", {})}

    def write_configs(self) -> None:
        write_toml(self.config_path("origin"), self.origin_config())
        write_toml(self.config_path("control-plane"), {
            "host": "127.0.0.1", "grpc_port": self.ports["cp_grpc"], "http_port": self.ports["cp_http"],
            "db_path": self.workdir / "control-plane" / "registry.sqlite3",
            "heartbeat_interval_ms": self.heartbeat_ms, "down_after_ms": self.down_after_ms,
            "fleet_secret": FLEET_SECRET, "origin_url": self.origin_url,
            **self.extra.get("control-plane", {}),
        })
        write_toml(self.config_path("steering"), {
            "host": "127.0.0.1", "port": self.ports["steering"], "control_plane": self.control_plane_addr,
            "origin_url": self.origin_url, "default_site": self.specs[0].site if self.specs else "default",
            "control_plane_http": self.control_plane_http,
            "tokens": self._tokens(), "sessions": self._sessions(), **self.extra.get("steering", {}),
        })
        for spec in self.specs:
            write_toml(self.config_path(spec.id), {
                "id": spec.id, "site": spec.site, "host": "127.0.0.1", "port": self.ports[spec.id],
                "data_dir": self.workdir / "appliances" / spec.id, "capacity_bytes": spec.capacity_bytes,
                "client_prefixes": list(spec.prefixes), "latitude": spec.latitude,
                "longitude": spec.longitude, "control_plane": self.control_plane_addr,
                "secret": FLEET_SECRET, "origin_url": self.origin_url,
                "heartbeat_interval_ms": self.heartbeat_ms, "tokens": self._tokens(),
                **self.extra.get("appliance", {}),
            })

    # -- processes -------------------------------------------------------------------------
    def _process(self, name: str, role_args: list[str], health_url: str) -> ServiceProcess:
        proc = ServiceProcess(
            name, streamfleet_argv(*role_args, "--config", str(self.config_path(name))),
            self.workdir / "logs" / f"{name}.log", health_url,
        )
        self.processes[name] = proc
        return proc

    def start_service(self, name: str) -> ServiceProcess:
        """(Re)start one service by name: origin, control-plane, steering or an appliance id."""
        if name == "origin":
            proc = self._process(name, ["origin", "serve"], f"{self.origin_url}/healthz")
        elif name == "control-plane":
            proc = self._process(name, ["control-plane", "serve"], f"{self.control_plane_http}/healthz")
        elif name == "steering":
            proc = self._process(name, ["steering", "serve"], f"{self.steering_url}/healthz")
        else:
            proc = self._process(name, ["appliance", "serve"], f"{self.appliance_url(name)}/healthz")
        proc.start()
        return proc

    def start(self, timeout: float = 60.0) -> None:
        """Start every service and wait until each is healthy."""
        self.write_configs()
        names = ["origin", "control-plane", "steering", *[s.id for s in self.specs]]
        for name in names:
            self.start_service(name)
        for name in names:
            self.processes[name].wait_healthy(timeout)

    def run_cli(self, *args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
        """Run a ``streamfleet`` command to completion (e.g. ingest), capturing its output."""
        return subprocess.run(
            streamfleet_argv(*args), capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def ingest(self, source: Path, name: str, title_id: str) -> dict[str, Any]:
        """Ingest ``source`` through the origin's CLI. Raises RuntimeError with its message."""
        done = self.run_cli("ingest", str(source), "--title", name, "--id", title_id,
                            "--config", str(self.config_path("origin")))
        if done.returncode != 0:
            raise RuntimeError(f"ingest failed: {done.stderr.strip()[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def sign_up_and_log_in(self, username: str, password: str, role: str = "viewer") -> str:
        """Create an account through the origin's API and log in; returns the session token.

        Raises RuntimeError with the origin's message when either step is refused.
        """
        account = {"username": username, "password": password, "role": role}
        created = httpx.post(f"{self.origin_url}/v1/accounts", json=account, timeout=10)
        if created.status_code not in (201, 409):
            raise RuntimeError(f"sign-up refused ({created.status_code}): {created.text[:300]}")
        login = httpx.post(f"{self.origin_url}/v1/sessions", json=account, timeout=10)
        if login.status_code not in (200, 201):
            raise RuntimeError(f"login refused ({login.status_code}): {login.text[:300]}")
        return str(login.json()["token"])

    def fill(self, *args: str) -> str:
        """Run ``streamfleet fill ARGS`` against this fleet's control plane; returns stdout.

        Raises RuntimeError with the command's message when it fails.
        """
        done = self.run_cli("fill", "--config", str(self.config_path("control-plane")), *args, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"fill {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def fill_status(self, site: str) -> list[dict[str, Any]]:
        """Per-appliance fill progress of ``site`` (bytes_done, bytes_total, done, ...)."""
        status = json.loads(self.fill("--json", "status", "--site", site))
        appliances: list[dict[str, Any]] = status["appliances"]
        return appliances

    def site_filled(self, site: str) -> bool:
        """True when every appliance of ``site`` has completed a non-empty fill."""
        appliances = self.fill_status(site)
        return bool(appliances) and all(a["done"] and a["bytes_total"] > 0 for a in appliances)

    def fill_now(self, timeout: float = 60.0) -> dict[str, list[dict[str, Any]]]:
        """Plan fill now and wait until every site's appliances hold their manifests.

        Returns the final per-site status. Raises RuntimeError on timeout.
        """
        self.fill("plan")
        sites = sorted({s.site for s in self.specs})
        deadline = time.monotonic() + timeout
        while not all(self.site_filled(site) for site in sites):
            if time.monotonic() > deadline:
                raise RuntimeError(f"fill did not complete within {timeout:.0f}s")
            time.sleep(0.2)
        return {site: self.fill_status(site) for site in sites}

    def wait_for_fleet(self, healthy: int, timeout: float = 30.0) -> None:
        """Wait until steering ranks at least ``healthy`` appliances (it follows WatchFleet)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                body = httpx.get(f"{self.steering_url}/healthz", timeout=1.0).json()
                if int(body.get("healthy_appliances", 0)) >= healthy:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"steering did not see {healthy} healthy appliances in {timeout:.0f}s")

    def stop(self) -> dict[str, int | None]:
        """Stop every process, appliances first, origin last. Returns exit codes by name."""
        codes: dict[str, int | None] = {}
        for name in reversed(list(self.processes)):
            codes[name] = self.processes[name].stop()
        return codes

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Kept under the name the demo and benchmarks know.
terminate_on_signals = sigterm_as_interrupt

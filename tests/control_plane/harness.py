"""Helpers for tests against a real control-plane process: ports, the process, gRPC clients."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx

from streamfleet.v1 import fleet_pb2, fleet_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
SECRET = "test-fleet-secret"
HEARTBEAT_MS = 200
DOWN_AFTER_MS = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ControlPlaneProcess:
    """``streamfleet control-plane serve`` in a subprocess on free loopback ports."""

    def __init__(self, workdir: Path, db_path: Path, **overrides: Any) -> None:
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.log_path = workdir / f"control-plane-{self.grpc_port}.log"
        settings: dict[str, Any] = {
            "grpc_port": self.grpc_port,
            "http_port": self.http_port,
            "db_path": str(db_path),
            "heartbeat_interval_ms": HEARTBEAT_MS,
            "down_after_ms": DOWN_AFTER_MS,
            "sweep_interval_ms": 100,
            "fleet_secret": SECRET,
            "log_level": "debug",
            **overrides,
        }
        self.config_path = workdir / f"control-plane-{self.grpc_port}.toml"
        self.config_path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in settings.items()))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 15.0) -> None:
        """Start and wait until /healthz answers 200."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_PLANE_")}
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [str(PYTHON), "-m", "streamfleet.cli", "control-plane", "serve", "--config",
                 str(self.config_path)],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AssertionError(f"control plane exited {self._proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.http + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"control plane did not become healthy:\n{self.log()}")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self._proc is not None
        self._proc.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL and reap: a crash, as the other replicas see it."""
        assert self._proc is not None
        self._proc.kill()
        self._proc.wait(10)

    def wait(self, timeout: float) -> int:
        assert self._proc is not None
        return self._proc.wait(timeout)

    def stop(self) -> int | None:
        """SIGTERM and wait; kill if it hangs. Returns the exit code (None if never started)."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        return self._proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def fleet_stub(channel: Any) -> Any:
    return fleet_pb2_grpc.FleetStub(channel)  # untyped generated code


def register_request(appliance_id: str, site: str = "ams", secret: str = SECRET,
                     **fields: Any) -> fleet_pb2.RegisterRequest:
    fields.setdefault("http_url", "http://127.0.0.1:8081")
    fields.setdefault("client_prefixes", ["10.0.0.0/8"])
    fields.setdefault("capacity_bytes", 10**12)
    return fleet_pb2.RegisterRequest(appliance_id=appliance_id, site=site, secret=secret, **fields)


def heartbeat_request(appliance_id: str, secret: str = SECRET, **fields: Any) -> fleet_pb2.HeartbeatRequest:
    fields.setdefault("state", fleet_pb2.APPLIANCE_STATE_ACTIVE)
    fields.setdefault("healthy", True)
    return fleet_pb2.HeartbeatRequest(appliance_id=appliance_id, secret=secret, **fields)


class Heartbeater:
    """Sends heartbeats from a thread every HEARTBEAT_MS until stopped, like an appliance."""

    def __init__(self, stub: Any, appliance_id: str, **fields: Any) -> None:
        self._stub = stub
        self._request = heartbeat_request(appliance_id, **fields)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.last_ack = 0.0
        self.replies: list[fleet_pb2.HeartbeatResponse] = []

    def __enter__(self) -> Heartbeater:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.replies.append(self._stub.Heartbeat(self._request, timeout=2))
            self.last_ack = time.monotonic()
            self._stop.wait(HEARTBEAT_MS / 1000)


class Watch:
    """A WatchFleet stream read by a thread; states (with arrival time) come out of a queue."""

    def __init__(self, stub: Any, watcher: str = "test") -> None:
        self._call = stub.WatchFleet(fleet_pb2.WatchFleetRequest(watcher=watcher))
        self._queue: queue.Queue[tuple[float, fleet_pb2.FleetState] | BaseException | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.ended_ok = False

    def _run(self) -> None:
        try:
            for state in self._call:
                self._queue.put((time.monotonic(), state))
            self._queue.put(None)
        except grpc.RpcError as exc:
            self._queue.put(exc)

    def next(self, timeout: float = 3.0) -> tuple[float, fleet_pb2.FleetState]:
        """The next (arrival time, state). Raises AssertionError when the stream ended."""
        item = self._queue.get(timeout=timeout)
        if item is None:
            self.ended_ok = True
            raise AssertionError("stream ended")
        if isinstance(item, BaseException):
            raise AssertionError(f"stream failed: {item}")
        return item

    def until(self, predicate: Callable[[fleet_pb2.FleetState], bool],
              timeout: float = 3.0) -> tuple[float, fleet_pb2.FleetState]:
        """Skip states until one satisfies ``predicate``; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no matching fleet state in time")
            try:
                arrived, state = self.next(remaining)
            except queue.Empty:
                raise AssertionError("no matching fleet state in time") from None
            if predicate(state):
                return arrived, state

    def wait_end(self, timeout: float) -> bool:
        """True when the server completed the stream normally within ``timeout``."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Empty, AssertionError):
            while time.monotonic() < deadline:
                self.next(deadline - time.monotonic())
        return self.ended_ok

    def cancel(self) -> None:
        self._call.cancel()
        self._thread.join(5)


def health_of(state: fleet_pb2.FleetState, appliance_id: str) -> int | None:
    for a in state.appliances:
        if a.appliance_id == appliance_id:
            return int(a.health)
    return None


@contextlib.contextmanager
def channel(target: str) -> Iterator[Any]:
    ch = grpc.insecure_channel(target)
    try:
        yield ch
    finally:
        ch.close()


def metric(http: str, name: str) -> float:
    """Value of an unlabelled metric in the control plane's /metrics text."""
    for line in httpx.get(http + "/metrics", timeout=2).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"metric {name} not found")


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


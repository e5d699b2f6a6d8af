"""Each role, run as the image runs it (tini as PID 1 of a new PID namespace, the service its child),
stops with exit code 0 on SIGTERM: what ``docker stop`` does."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from streamfleet.healthcheck import probe
from streamfleet.launcher import free_port, write_toml

from .conftest import debian_tool

pytestmark = pytest.mark.e2e

DEAD = f"127.0.0.1:{free_port()}"  # nothing listens: services must start without their peers


def _role_config(role: str, tmp: Path) -> tuple[dict[str, Any], int]:
    """(config, HTTP port) for one role on free loopback ports."""
    port = free_port()
    configs: dict[str, dict[str, Any]] = {
        "origin": {"port": port, "data_dir": tmp / "origin"},
        "control-plane": {"http_port": port, "grpc_port": free_port(), "db_path": tmp / "cp" / "r.sqlite3"},
        "steering": {"port": port, "control_plane": DEAD, "origin_url": f"http://{DEAD}",
                     "startup_wait_seconds": 0.0},
        "appliance": {"port": port, "data_dir": tmp / "appliance", "control_plane": DEAD,
                      "origin_url": f"http://{DEAD}"},
    }
    return configs[role], port


def _child_pid(pid: int, timeout: float = 10.0) -> int:
    """The first child of ``pid`` (unshare's forked tini), waiting for it to appear."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError(f"process {pid} started no child")


@pytest.fixture(scope="module")
def tini() -> str:
    if not Path("/proc/self/task").exists() or shutil.which("unshare") is None:
        pytest.skip("needs Linux /proc and unshare (util-linux)")
    if os.geteuid() != 0:
        pytest.skip("a new PID namespace needs root here")
    return debian_tool("tini", "tini")


@pytest.mark.parametrize("role", ["origin", "control-plane", "steering", "appliance"])
def test_sigterm_to_pid_1_stops_the_service_cleanly(role: str, tini: str, tmp_path: Path) -> None:
    config, port = _role_config(role, tmp_path)
    path = write_toml(tmp_path / f"{role}.toml", {"host": "127.0.0.1", **config})
    log = tmp_path / "service.log"
    # --kill-child: should the test fail half-way, killing unshare takes the namespace with it.
    argv = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", tini, "--",
            sys.executable, "-m", "streamfleet.cli", role, "serve", "--config", str(path)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        init = _child_pid(proc.pid)
        deadline = time.monotonic() + 30
        while not probe(f"http://127.0.0.1:{port}/healthz", 1.0)[0]:
            assert proc.poll() is None, f"{role} exited early:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{role} never became healthy:\n{log.read_text()[-3000:]}"
            time.sleep(0.1)
        os.kill(init, signal.SIGTERM)  # what the container runtime sends to PID 1
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, f"{role} exited {code} after SIGTERM:\n{log.read_text()[-3000:]}"

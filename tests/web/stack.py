"""A whole fleet plus the web server, as real processes on loopback, with accounts and one title."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from streamfleet.launcher import DEV_KEY, Fleet, ServiceProcess, free_port, write_toml

REPO = Path(__file__).resolve().parents[2]
TITLE = "web-clip"
TITLE_NAME = "Harbour Lights"
SESSION_KEY = "web-test-session-key-0123456789abcdef"
PASSWORD = "correct horse battery"
# Cheap password hashing: the tests log in a handful of times and must stay fast.
ACCOUNTS = {"signup_roles": ["viewer", "creator", "operator"], "argon2_time_cost": 1,
            "argon2_memory_kib": 8192, "argon2_parallelism": 1}
SESSIONS = {"keys": {"web": SESSION_KEY}, "active": "web"}


@dataclass
class Stack:
    """The fleet, the web server and what the tests log in with."""

    fleet: Fleet
    web: ServiceProcess
    web_url: str
    users: dict[str, str] = field(default_factory=dict)  # role -> username


def start_stack(workdir: Path, clip_seconds: float = 12.0) -> Stack:
    """Start a fleet (origin, control plane, steering, three appliances), ingest a clip, start the
    web server and create one account per role. Stop it with :func:`stop_stack`."""
    fleet = Fleet(workdir, heartbeat_ms=300, down_after_ms=1200, extra={
        "origin": {"accounts": ACCOUNTS, "sessions": SESSIONS},
        "steering": {"sessions": SESSIONS},
    })
    web: ServiceProcess | None = None
    try:
        fleet.start()
        clip = workdir / "clip.mp4"
        made = fleet.run_cli("testclip", str(clip), "--seconds", str(clip_seconds), "--width", "640",
                             "--height", "360")
        if made.returncode != 0:
            raise RuntimeError(f"testclip failed: {made.stderr[-2000:]}")
        fleet.ingest(clip, TITLE_NAME, TITLE)
        fleet.wait_for_fleet(len(fleet.specs))
        port = free_port()
        config = write_toml(workdir / "config" / "web.toml", {
            "host": "127.0.0.1", "port": port, "origin_url": fleet.origin_url,
            "steering_url": fleet.steering_url, "control_plane_http": fleet.control_plane_http,
            "data_dir": workdir / "web", "tokens": {"keys": {"demo": DEV_KEY}, "active": "demo"},
        })
        url = f"http://127.0.0.1:{port}"
        web = ServiceProcess("web", [sys.executable, "-m", "web.cli", "serve", "--config", str(config)],
                             workdir / "logs" / "web.log", f"{url}/healthz", env={"PYTHONPATH": str(REPO)})
        fleet.processes["web"] = web
        web.start()
        web.wait_healthy(30)
        stack = Stack(fleet, web, url)
        for role in ("viewer", "creator", "operator"):
            stack.users[role] = create_account(fleet.origin_url, f"{role}-{int(time.time())}", role)
        return stack
    except BaseException:
        fleet.stop()
        raise


def stop_stack(stack: Stack) -> dict[str, int | None]:
    """Stop every process (the web server first). Returns exit codes by name."""
    return stack.fleet.stop()


def create_account(origin_url: str, username: str, role: str) -> str:
    """Sign up ``username`` with PASSWORD. Raises AssertionError with the origin's answer."""
    response = httpx.post(f"{origin_url}/v1/accounts", json={"username": username, "password": PASSWORD,
                                                              "role": role}, timeout=30)
    assert response.status_code == 201, f"sign-up as {role} failed: {response.status_code} {response.text}"
    return username


def wait_until(check: Any, timeout: float, interval: float = 0.2) -> Any:
    """Call ``check`` until it returns something truthy; return that. Raises TimeoutError."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = check()
            if last:
                return last
        time.sleep(interval)
    raise TimeoutError(f"condition not met in {timeout:.0f}s (last: {last!r})")

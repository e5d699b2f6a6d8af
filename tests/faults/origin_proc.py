"""A real origin process on its own: generated config, titles ingested and accounts made through
its own commands (``streamfleet ingest``, ``streamfleet origin account``), then ``origin serve``."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

from streamfleet.launcher import ServiceProcess, free_port, streamfleet_argv, write_toml

PASSWORD = "correct horse battery"
# argon2 at its cheapest: the tests exercise HTTP, not the password cost.
FAST_ACCOUNTS = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}


class SoloOrigin:
    """``streamfleet origin serve`` as a child process; ``settings`` are extra config keys and
    sections (e.g. ``http={"request_timeout_seconds": 2}``). Titles and accounts are made before
    :meth:`start` (SQLite files the server then opens)."""

    def __init__(self, workdir: Path, **settings: Any) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.config_path = workdir / "origin.toml"
        config: dict[str, Any] = {
            "host": "127.0.0.1", "port": self.port, "data_dir": workdir / "origin",
            "accounts": FAST_ACCOUNTS, "pipeline": {"workers": 0}, **settings,
        }  # fmt: skip
        write_toml(self.config_path, config)
        self.process = ServiceProcess("origin", self._argv("origin", "serve"), workdir / "origin.log",
                                      f"{self.url}/healthz")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _argv(self, *args: str) -> list[str]:
        return streamfleet_argv(*args, "--config", str(self.config_path))

    def _run(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(self._argv(*args), input=stdin, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def ingest(self, clip: Path, title: str) -> None:
        self._run("ingest", str(clip), "--title", title, "--id", title)

    def account(self, username: str, role: str) -> None:
        self._run("origin", "account", "create", username, "--role", role, stdin=PASSWORD + "\n")

    def login(self, username: str) -> str:
        """A fresh session token of ``username`` (made with :meth:`account` or by sign-up)."""
        response = httpx.post(f"{self.url}/v1/sessions", json={"username": username, "password": PASSWORD},
                              timeout=10)
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    def start(self, timeout: float = 30.0) -> SoloOrigin:
        self.process.start()
        self.process.wait_healthy(timeout)
        return self

    def stop(self) -> int | None:
        return self.process.stop()

    def __enter__(self) -> SoloOrigin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

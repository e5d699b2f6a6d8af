"""``streamfleet appliance serve`` as a real process: serves, then stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from appliance.cli import main

from .support import ServerThread, StandInOrigin, free_port, segment, url_of


def test_serve_fills_from_origin_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    origin = StandInOrigin()
    with ServerThread(origin.app()) as origin_server:
        config = tmp_path / "appliance.toml"
        config.write_text(
            f'id = "cli-1"\nport = {port}\ndata_dir = "{tmp_path / "data"}"\n'
            f'origin_url = "{origin_server.url}"\ncontrol_plane = "127.0.0.1:{free_port()}"\n'
        )
        env = {**os.environ, "APPLIANCE_LOG_LEVEL": "info"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamfleet.cli", "appliance", "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 15
            while True:
                assert proc.poll() is None, "appliance exited early"
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "appliance did not come up"
                time.sleep(0.05)
            response = httpx.get(url_of(base, segment(0)))
            assert response.status_code == 200 and response.headers["x-served-by"] == "cli-1"
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 0
    records = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert any(r["msg"] == "appliance ready" and r["service"] == "appliance" for r in records)
    assert any(r["msg"] == "filled a miss from the origin" for r in records)
    assert (tmp_path / "data" / "chunks" / segment(0).relative_path).is_file()


def test_bad_config_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("capacity_bytes = -1\n")
    assert main(["serve", "--config", str(config)]) == 2
    assert "capacity_bytes" in capsys.readouterr().err

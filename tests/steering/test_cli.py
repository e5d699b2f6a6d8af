"""The steering command as a real process, against stand-in control plane and origin."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from steering.cli import main
from streamfleet.sessions import SessionSettings, issue_session
from streamfleet.v1 import fleet_pb2

from .standins import StandInFleet, origin_catalog_app, serve_http, start_grpc

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_follows_the_fleet_answers_and_stops_on_sigterm() -> None:
    servicer = StandInFleet(
        fleet_pb2.FleetState(
            version=4,
            appliances=[
                fleet_pb2.ApplianceStatus(
                    appliance_id="east-1",
                    site="east",
                    http_url="http://127.0.0.1:18081",
                    health=fleet_pb2.HEALTH_HEALTHY,
                    capacity_bytes=10**12,
                    client_prefixes=["127.0.0.0/8"],
                )
            ],
        )
    )
    grpc_server, grpc_port = await start_grpc(servicer)
    port = free_port()
    try:
        async with serve_http(origin_catalog_app({"film": "ready"})) as origin_url:
            env = dict(
                os.environ,
                STEERING_PORT=str(port),
                STEERING_CONTROL_PLANE=f"127.0.0.1:{grpc_port}",
                STEERING_ORIGIN_URL=origin_url,
                STEERING_LOG_LEVEL="warning",
                STEERING_POPULARITY_INTERVAL_SECONDS="0",
            )
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "streamfleet.cli", "steering", "serve", env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            try:
                base = f"http://127.0.0.1:{port}"
                # The default session key verifies out of the box.
                session = issue_session(SessionSettings().keyring(), "u1", "viewer", 0, 2**40)
                auth = {"Authorization": f"Bearer {session}"}
                async with httpx.AsyncClient(base_url=base, timeout=5, headers=auth) as client:
                    for _ in range(300):
                        try:
                            health = await client.get("/healthz")
                            break
                        except httpx.TransportError:
                            await asyncio.sleep(0.02)
                    assert health.json()["control_plane"] == "connected"
                    assert health.json()["fleet_version"] == 4
                    answer = await client.post("/v1/playback", json={"title": "film"})
                    assert answer.status_code == 200, answer.text
                    body = answer.json()
                    assert (body["site"], body["site_reason"]) == ("east", "prefix")
                    assert [u["appliance"] for u in body["urls"]] == ["east-1", None]
                    assert body["urls"][-1]["url"].startswith(origin_url + "/s/")
                    # uvicorn must not rewrite the peer from X-Forwarded-For on its own.
                    forged = await client.post(
                        "/v1/playback", json={"title": "film"}, headers={"X-Forwarded-For": "192.0.2.1"}
                    )
                    assert forged.json()["site"] == "east"
                proc.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(proc.wait(), 10) == 0
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                assert proc.stderr is not None
                stderr = (await proc.stderr.read()).decode()
            assert "Traceback" not in stderr
    finally:
        await grpc_server.stop(None)


def test_bad_config_exits_2_naming_the_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEERING_PORT", "eighty")
    assert main(["serve"]) == 2
    assert "port" in capsys.readouterr().err
    monkeypatch.setenv("STEERING_PORT", "8080")
    monkeypatch.setenv("STEERING_TRUSTED_PROXIES", "10.0.0.0/8,not-a-cidr")
    assert main(["serve"]) == 2
    assert "not-a-cidr" in capsys.readouterr().err

"""A real steering process against a stand-in control plane (WatchFleet + popularity API) and origin."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamfleet.sessions import SessionSettings, issue_session
from streamfleet.v1 import fleet_pb2

from .standins import StandInFleet, origin_catalog_app, serve_http, start_grpc

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SITES = {"east": "10.1.0.0/16", "west": "10.2.0.0/16", "north": "2001:db8:a::/48"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fleet_state(version: int, down: frozenset[str] = frozenset()) -> fleet_pb2.FleetState:
    appliances: list[fleet_pb2.ApplianceStatus] = []
    for site, prefix in SITES.items():
        for n in (1, 2):
            ident = f"{site}-{n}"
            appliances.append(
                fleet_pb2.ApplianceStatus(
                    appliance_id=ident,
                    site=site,
                    http_url=f"http://127.0.0.1:{18000 + len(appliances)}",
                    health=fleet_pb2.HEALTH_DOWN if ident in down else fleet_pb2.HEALTH_HEALTHY,
                    capacity_bytes=10**12,
                    client_prefixes=[prefix],
                    titles=["film"],
                )
            )
    return fleet_pb2.FleetState(version=version, appliances=appliances)


def popularity_app(received: list[bytes]) -> Starlette:
    async def report(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=204)

    return Starlette(routes=[Route("/v1/popularity", report, methods=["POST"])])


@asynccontextmanager
async def steering_process(env: dict[str, str], config: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamfleet.cli", "steering", "serve", "--config", str(config),
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def test_clients_land_on_their_own_site_and_a_down_appliance_stops_being_first(tmp_path: Path) -> None:
    servicer = StandInFleet(fleet_state(1))
    grpc_server, grpc_port = await start_grpc(servicer)
    received: list[bytes] = []
    port = free_port()
    config = tmp_path / "steering.toml"
    config.write_text(
        f'port = {port}\ncontrol_plane = "127.0.0.1:{grpc_port}"\ntrusted_proxies = ["127.0.0.1/32"]\n'
        'default_site = "east"\npopularity_interval_seconds = 0.2\nlog_level = "warning"\n'
        '[sessions]\nkeys = { e2e = "e2e-session-key-0123456789" }\nactive = "e2e"\n'
    )
    keyring = SessionSettings(keys={"e2e": "e2e-session-key-0123456789"}, active="e2e").keyring()
    session = issue_session(keyring, "viewer-1", "viewer", 0, 2**40)
    try:
        async with (
            serve_http(origin_catalog_app({"film": "ready"})) as origin_url,
            serve_http(popularity_app(received)) as cp_http,
        ):
            env = {"STEERING_ORIGIN_URL": origin_url, "STEERING_CONTROL_PLANE_HTTP": cp_http}
            async with steering_process(env, config) as proc:
                base = f"http://127.0.0.1:{port}"
                auth = {"Authorization": f"Bearer {session}"}
                async with httpx.AsyncClient(base_url=base, timeout=5, headers=auth) as client:
                    for _ in range(500):
                        try:
                            health = (await client.get("/healthz")).json()
                            break
                        except httpx.TransportError:
                            await asyncio.sleep(0.02)
                    assert health["fleet_version"] == 1 and health["control_plane"] == "connected"
                    assert 0 <= health["fleet_state_age_s"] < 5

                    async def play(client_ip: str) -> dict[str, object]:
                        r = await client.post(
                            "/v1/playback", json={"title": "film"}, headers={"X-Forwarded-For": client_ip}
                        )
                        assert r.status_code == 200, r.text
                        body: dict[str, object] = r.json()
                        return body

                    clients = {"east": "10.1.7.7", "west": "10.2.7.7", "north": "2001:db8:a::7"}
                    firsts: dict[str, str] = {}
                    for site, ip in clients.items():
                        body = await play(ip)
                        assert (body["site"], body["site_reason"]) == (site, "prefix")
                        urls = body["urls"]
                        assert isinstance(urls, list) and len(urls) >= 3
                        assert [u["site"] for u in urls[:2]] == [site, site]
                        assert urls[-1]["kind"] == "origin"
                        firsts[site] = urls[0]["appliance"]

                    anonymous = await client.post(
                        "/v1/playback", json={"title": "film"}, headers={"Authorization": ""}
                    )
                    assert anonymous.status_code == 401

                    # The first choice of east goes down: it is never first again.
                    servicer.publish(fleet_state(2, down=frozenset({firsts["east"]})))
                    for _ in range(300):
                        if (await client.get("/healthz")).json()["fleet_version"] == 2:
                            break
                        await asyncio.sleep(0.02)
                    for n in range(20):
                        body = await play(f"10.1.8.{n}")
                        urls = body["urls"]
                        assert isinstance(urls, list)
                        assert urls[0]["appliance"] != firsts["east"] and urls[0]["site"] == "east"
                        assert firsts["east"] not in [u["appliance"] for u in urls]
                    metrics = (await client.get("/metrics")).text
                    assert 'streamfleet_steering_misses_total{kind="health",site="east"} 20.0' in metrics

                    # The control plane goes away: answers continue from the last state.
                    await grpc_server.stop(None)
                    for _ in range(300):
                        if (await client.get("/healthz")).json()["control_plane"] == "unreachable":
                            break
                        await asyncio.sleep(0.02)
                    body = await play("10.2.9.9")
                    assert body["site"] == "west"
                    assert "steering_control_plane_connected 0.0" in (await client.get("/metrics")).text

                    for _ in range(300):
                        if received:
                            break
                        await asyncio.sleep(0.02)
                proc.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(proc.wait(), 10) == 0
                assert proc.stderr is not None
                assert "Traceback" not in (await proc.stderr.read()).decode()
    finally:
        await grpc_server.stop(None)
    totals: dict[str, int] = {}
    for raw in received:
        report = json.loads(raw)
        totals[report["site"]] = totals.get(report["site"], 0) + report["starts"]["film"]
    assert totals == {"east": 21, "west": 2, "north": 1}

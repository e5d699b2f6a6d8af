"""Fill planning in a real control-plane process, against a stand-in origin catalog on a free port."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from control_plane.fill_cli import run as fill_cli
from streamfleet.v1 import fleet_pb2

from .harness import (
    SECRET,
    ControlPlaneProcess,
    channel,
    fleet_stub,
    heartbeat_request,
    register_request,
    wait_for,
)
from .standin_origin import StandInCatalog, origin_on_a_port

pytestmark = pytest.mark.e2e

TOKEN = "e2e-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MB = 10**6


@pytest.fixture(scope="module")
def catalog() -> StandInCatalog:
    stand_in = StandInCatalog()
    for i in range(12):
        stand_in.add(f"film-{i:02d}", [MB * (i + 1), MB])  # 2..13 MB
    stand_in.add("still-encoding", [MB], status="ingesting")
    return stand_in


@pytest.fixture(scope="module")
def origin(catalog: StandInCatalog) -> Iterator[str]:
    with origin_on_a_port(catalog) as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, origin: str) -> Iterator[ControlPlaneProcess]:
    workdir = tmp_path_factory.mktemp("control-plane-fill")
    proc = ControlPlaneProcess(workdir, workdir / "registry.sqlite3", origin_url=origin,
                               operator_token=TOKEN, plan_interval_s=3600, plan_debounce_ms=50)
    proc.start()
    yield proc
    assert proc.stop() == 0, proc.log()


@pytest.fixture(scope="module")
def stub(server: ControlPlaneProcess) -> Iterator[Any]:
    with channel(server.target) as ch:
        yield fleet_stub(ch)


def manifest(stub: Any, appliance_id: str, known: int = 0) -> fleet_pb2.FillManifest:
    request = fleet_pb2.FillManifestRequest(appliance_id=appliance_id, secret=SECRET, known_version=known)
    reply: fleet_pb2.FillManifest = stub.GetFillManifest(request, timeout=5)
    return reply


def test_get_fill_manifest_returns_the_planned_manifest(server: ControlPlaneProcess, stub: Any,
                                                        origin: str) -> None:
    stub.Register(register_request("ams-1", site="ams", capacity_bytes=60 * MB))
    stub.Register(register_request("ams-2", site="ams", capacity_bytes=60 * MB))
    stub.Register(register_request("fra-1", site="fra", capacity_bytes=30 * MB))
    stub.Heartbeat(heartbeat_request("ams-1", titles=[]), timeout=2)
    httpx.post(server.http + "/v1/popularity", json={"site": "ams", "starts": {"film-11": 90, "film-00": 5}},
               timeout=5).raise_for_status()
    reply = httpx.post(server.http + "/v1/fill/plan", headers=AUTH, timeout=30)
    assert reply.status_code == 200, reply.text
    plan = reply.json()
    assert plan["titles"] == 12 and set(plan["appliances"]) == {"ams-1", "ams-2", "fra-1"}
    ams = [manifest(stub, "ams-1"), manifest(stub, "ams-2")]
    for m in ams:
        assert m.version == plan["version"] > 0
        assert m.origin_url == origin
        assert [e.priority for e in m.entries] == list(range(len(m.entries)))
        assert all(e.bytes == MB * (int(e.title[-2:]) + 2) for e in m.entries)
        assert sum(e.bytes for e in m.entries) <= 60 * MB
    held = {e.title for m in ams for e in m.entries}
    assert "film-11" in held and "still-encoding" not in held
    # The hottest title leads the manifest of every appliance that holds it.
    assert all(m.entries[0].title == "film-11" for m in ams if "film-11" in {e.title for e in m.entries})
    fra = manifest(stub, "fra-1")
    assert 0 < sum(e.bytes for e in fra.entries) <= 30 * MB
    # Known version: only the version comes back.
    same = manifest(stub, "ams-1", known=ams[0].version)
    assert same.version == ams[0].version and len(same.entries) == 0
    # Heartbeat replies carry the latest manifest version.
    assert stub.Heartbeat(heartbeat_request("ams-1"), timeout=2).fill_version == ams[0].version
    with pytest.raises(grpc.RpcError) as denied:
        stub.GetFillManifest(fleet_pb2.FillManifestRequest(appliance_id="ams-1", secret="nope"), timeout=2)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_schedules_and_run_now_reach_the_manifest(server: ControlPlaneProcess, stub: Any) -> None:
    before = manifest(stub, "ams-1").version
    schedule = {"window": "02:00-06:00", "tz": "Europe/Paris", "rate": "500Mbps"}
    assert httpx.put(server.http + "/v1/fill/schedules/ams", json=schedule, timeout=5).status_code == 401
    reply = httpx.put(server.http + "/v1/fill/schedules/ams", headers=AUTH, json=schedule, timeout=5)
    assert reply.status_code == 200, reply.text
    bad = httpx.put(server.http + "/v1/fill/schedules/ams", headers=AUTH, timeout=5,
                    json={"window": "02:00-06:00", "tz": "Europe/Pariss", "rate": "500Mbps"})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("tz ")
    m = manifest(stub, "ams-1", known=before)
    assert m.version > before and len(m.entries) > 0
    assert (m.window.start, m.window.end, m.window.tz) == ("02:00", "06:00", "Europe/Paris")
    assert m.window.rate_bits_per_second == 500_000_000 and m.window.run_now_until == 0
    ran = httpx.post(server.http + "/v1/fill/run-now/ams", headers=AUTH, json={"hours": 1}, timeout=5).json()
    assert manifest(stub, "ams-1").window.run_now_until == ran["run_now_until"] > 0
    assert manifest(stub, "fra-1").window.tz == ""  # other sites untouched


def test_a_new_appliance_is_planned_without_asking(server: ControlPlaneProcess, stub: Any) -> None:
    stub.Register(register_request("fra-2", site="fra", capacity_bytes=30 * MB))
    assert wait_for(lambda: manifest(stub, "fra-2").version > 0, timeout=5)
    assert len(manifest(stub, "fra-2").entries) > 0


def test_fill_status_cli_against_the_server(server: ControlPlaneProcess, stub: Any) -> None:
    m = manifest(stub, "ams-1")
    total = sum(e.bytes for e in m.entries)
    stub.Heartbeat(heartbeat_request("ams-1", fill_version=m.version, fill_bytes_done=total // 2,
                                     fill_bytes_total=total), timeout=2)
    out = io.StringIO()
    code = fill_cli(["--control-plane", server.http, "--token", TOKEN, "status", "--site", "ams"], out=out)
    assert code == 0
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("site ams: fill 02:00-06:00 Europe/Paris at 500 Mbit/s; run-now until ")
    (line,) = [x for x in lines if x.strip().startswith("ams-1 ")]
    assert "[############------------]  50.0%" in line and "ETA " in line
    assert fill_cli(["--control-plane", server.http, "--token", "bad", "status"], out=io.StringIO()) == 1


def test_manifests_survive_a_restart(server: ControlPlaneProcess, stub: Any) -> None:
    before = {a: manifest(stub, a) for a in ("ams-1", "fra-1")}
    assert server.stop() == 0
    server.start()
    with channel(server.target) as ch:
        restarted = fleet_stub(ch)
        for ident, m in before.items():
            again = manifest(restarted, ident)
            assert again.version == m.version
            assert [e.title for e in again.entries] == [e.title for e in m.entries]

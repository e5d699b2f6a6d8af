"""Two real control-plane processes on one database (a SQLite file, and PostgreSQL when the test run
has it): an appliance heartbeating to one replica is healthy, then DOWN, on the other; the planner
lease moves when its holder is SIGKILLed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamfleet.v1 import fleet_pb2

from .harness import (
    DOWN_AFTER_MS,
    ControlPlaneProcess,
    Heartbeater,
    Watch,
    channel,
    fleet_stub,
    health_of,
    register_request,
    wait_for,
)

pytestmark = pytest.mark.e2e

HEALTHY = fleet_pb2.HEALTH_HEALTHY
DOWN = fleet_pb2.HEALTH_DOWN
LEASE_MS = 1500


@pytest.fixture
def pair(db_target: Path | str, tmp_path: Path) -> Iterator[tuple[ControlPlaneProcess, ControlPlaneProcess]]:
    """Replica A (started first, so it plans) and replica B on one database."""
    if isinstance(db_target, Path):
        db_path, settings = db_target, {}
    else:
        db_path, settings = tmp_path / "unused.sqlite3", {"database_url": db_target}
    a = ControlPlaneProcess(tmp_path, db_path, replica_id="replica-a", leader_lease_ms=LEASE_MS, **settings)
    b = ControlPlaneProcess(tmp_path, db_path, replica_id="replica-b", leader_lease_ms=LEASE_MS, **settings)
    a.start()
    try:
        b.start()
        yield a, b
    finally:
        codes = (a.stop(), b.stop())
        assert codes[1] == 0, b.log()
        assert codes[0] in (0, -9), a.log()


def healthz(proc: ControlPlaneProcess) -> dict[str, object]:
    body: dict[str, object] = httpx.get(proc.http + "/healthz", timeout=2).json()
    return body


def test_heartbeats_to_one_replica_make_the_fleet_the_other_serves(
    pair: tuple[ControlPlaneProcess, ControlPlaneProcess],
) -> None:
    a, b = pair
    with channel(a.target) as ch_a, channel(b.target) as ch_b:
        stub_a, stub_b = fleet_stub(ch_a), fleet_stub(ch_b)
        stub_a.Register(register_request("only-a", site="ams"), timeout=2)
        watch = Watch(stub_b, watcher="on-b")
        try:
            heartbeats = Heartbeater(stub_a, "only-a", titles=["t-1"])
            with heartbeats:
                watch.until(lambda s: health_of(s, "only-a") == HEALTHY
                                         and any(list(x.titles) == ["t-1"] for x in s.appliances), timeout=5)
                # Well past down_after_ms on heartbeats that only A receives: B still says healthy.
                time.sleep(3 * DOWN_AFTER_MS / 1000)
                with pytest.raises(AssertionError):  # no DOWN came meanwhile
                    watch.until(lambda s: health_of(s, "only-a") != HEALTHY, timeout=0.2)
                fleet_a = httpx.get(a.http + "/v1/fleet", timeout=2).json()
                fleet_b = httpx.get(b.http + "/v1/fleet", timeout=2).json()
                assert [x["health"] for x in fleet_b["appliances"]] == ["healthy"]
                assert wait_for(lambda: httpx.get(a.http + "/v1/fleet", timeout=2).json()["version"]
                                == httpx.get(b.http + "/v1/fleet", timeout=2).json()["version"], 2)
                assert fleet_a["appliances"][0]["appliance_id"] == fleet_b["appliances"][0]["appliance_id"]
            silent_since = heartbeats.last_ack
            arrived, down = watch.until(lambda s: health_of(s, "only-a") == DOWN, timeout=5)
            delay_ms = (arrived - silent_since) * 1000
            # down_after_ms of silence, plus at most a sweep on the replica that marks it and a
            # sweep on B (100 ms each here) and the stream.
            assert DOWN_AFTER_MS - 100 <= delay_ms <= DOWN_AFTER_MS + 700, delay_ms
        finally:
            watch.cancel()
    # Both replicas serve that very version.
    assert wait_for(lambda: httpx.get(a.http + "/v1/fleet", timeout=2).json()
                    == httpx.get(b.http + "/v1/fleet", timeout=2).json(), 2)
    assert down.version == httpx.get(b.http + "/v1/fleet", timeout=2).json()["version"]


def test_the_planner_lease_moves_when_its_holder_is_killed(
    pair: tuple[ControlPlaneProcess, ControlPlaneProcess],
) -> None:
    a, b = pair
    assert healthz(a)["planner"] is True and healthz(b)["planner"] is False
    assert (healthz(a)["replica"], healthz(b)["replica"]) == ("replica-a", "replica-b")
    # What only the planner knows is forwarded to it.
    headers = {"Authorization": "Bearer streamfleet-dev-operator-token"}
    answer = httpx.get(b.http + "/v1/fill/plan", headers=headers, timeout=5)
    assert answer.status_code == 200, answer.text
    assert wait_for(lambda: '"path": "/v1/fill/plan"' in a.log(), 2), "B did not forward to A"
    killed_at = time.monotonic()
    a.kill()
    assert wait_for(lambda: healthz(b)["planner"] is True, LEASE_MS * 3 / 1000)
    took_s = time.monotonic() - killed_at
    # The lease expires at most LEASE_MS after A's last renewal; B tries every LEASE_MS / 3.
    assert took_s <= (LEASE_MS + LEASE_MS / 3) / 1000 + 0.5, took_s
    assert "took the leader lease" in b.log()
    answer = httpx.get(b.http + "/v1/fill/plan", headers=headers, timeout=5)
    assert answer.status_code == 200, answer.text

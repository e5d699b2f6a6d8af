"""The per-appliance health state machine (through the registry, which runs it), driven by a fake clock."""

from __future__ import annotations

import pytest

from control_plane.health import HealthPolicy, HealthTransition, down_cutoff_ms, judge_report
from control_plane.model import ApplianceState, Health, HeartbeatReport, LoadReport, Registration
from control_plane.registry import FleetRegistry
from control_plane.store import MemoryRegistryStore

from .fakes import FakeClock

POLICY = HealthPolicy(down_after_ms=3000, degraded_error_ratio=0.05)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Monitor:
    """Signs of life and sweeps, as the gRPC service and the sweeper drive the registry."""

    def __init__(self, clock: FakeClock, store: MemoryRegistryStore | None = None) -> None:
        self.store = store or MemoryRegistryStore()
        self.registry = FleetRegistry(self.store, POLICY, clock)

    def observe(self, ident: str, reported: Health) -> HealthTransition | None:
        """A heartbeat reporting what makes ``reported`` (registering first if unknown)."""
        before = self.registry.health(ident) if ident in self.registry else Health.DOWN
        if ident not in self.registry:
            self.registry.register(Registration(ident, "ams", "http://127.0.0.1:8081", 1, ()))
        state = ApplianceState.DRAINING if reported is Health.DRAINING else ApplianceState.ACTIVE
        ratio = 0.5 if reported is Health.DEGRADED else 0.0
        report = HeartbeatReport(ident, state=state, load=LoadReport(error_ratio=ratio))
        assert self.registry.heartbeat(report)
        after = self.registry.health(ident)
        return None if after is before else HealthTransition(ident, before, after)

    def sweep(self) -> list[HealthTransition]:
        return self.registry.tick()

    def health(self, ident: str) -> Health:
        return self.registry.health(ident)


@pytest.fixture
def monitor(clock: FakeClock) -> Monitor:
    return Monitor(clock)


@pytest.mark.parametrize(
    ("state", "healthy", "error_ratio", "expected"),
    [
        (ApplianceState.ACTIVE, True, 0.0, Health.HEALTHY),
        (ApplianceState.ACTIVE, True, 0.05, Health.HEALTHY),  # the threshold itself is still fine
        (ApplianceState.ACTIVE, True, 0.0501, Health.DEGRADED),
        (ApplianceState.ACTIVE, False, 0.0, Health.DEGRADED),
        (ApplianceState.DRAINING, True, 0.0, Health.DRAINING),
        (ApplianceState.DRAINED, False, 0.9, Health.DRAINING),  # draining wins over degraded
    ],
)
def test_judge_report(state: ApplianceState, healthy: bool, error_ratio: float, expected: Health) -> None:
    assert judge_report(POLICY, state, healthy, error_ratio) is expected


def test_first_sign_of_life_is_a_transition_from_down(monitor: Monitor) -> None:
    assert monitor.observe("a1", Health.HEALTHY) == HealthTransition("a1", Health.DOWN, Health.HEALTHY)
    assert monitor.health("a1") is Health.HEALTHY
    assert "a1" in monitor.registry and len(monitor.registry) == 1


def test_down_exactly_after_down_after_ms_of_silence(monitor: Monitor, clock: FakeClock) -> None:
    monitor.observe("a1", Health.HEALTHY)
    clock.advance(2999)
    assert monitor.sweep() == []
    assert monitor.health("a1") is Health.HEALTHY
    clock.advance(1)
    assert monitor.sweep() == [HealthTransition("a1", Health.HEALTHY, Health.DOWN)]
    assert monitor.health("a1") is Health.DOWN
    clock.advance(10_000)
    assert monitor.sweep() == []  # reported once, not on every sweep


def test_down_cutoff() -> None:
    assert down_cutoff_ms(POLICY, 10_000) == 7_000


def test_each_heartbeat_restarts_the_deadline(monitor: Monitor, clock: FakeClock) -> None:
    monitor.observe("a1", Health.HEALTHY)
    for _ in range(10):
        clock.advance(2000)
        assert monitor.observe("a1", Health.HEALTHY) is None
        assert monitor.sweep() == []
    assert monitor.health("a1") is Health.HEALTHY


def test_heartbeat_brings_a_down_appliance_back(monitor: Monitor, clock: FakeClock) -> None:
    monitor.observe("a1", Health.DEGRADED)
    clock.advance(3000)
    monitor.sweep()
    assert monitor.observe("a1", Health.HEALTHY) == HealthTransition("a1", Health.DOWN, Health.HEALTHY)


def test_reported_health_changes_are_transitions(monitor: Monitor) -> None:
    monitor.observe("a1", Health.HEALTHY)
    assert monitor.observe("a1", Health.DEGRADED) == HealthTransition("a1", Health.HEALTHY, Health.DEGRADED)
    assert monitor.observe("a1", Health.DRAINING) == HealthTransition("a1", Health.DEGRADED, Health.DRAINING)
    assert monitor.observe("a1", Health.DRAINING) is None


def test_silent_draining_appliance_goes_down(monitor: Monitor, clock: FakeClock) -> None:
    monitor.observe("a1", Health.DRAINING)
    clock.advance(3000)
    assert monitor.sweep() == [HealthTransition("a1", Health.DRAINING, Health.DOWN)]


def test_stored_appliance_stays_down_until_seen(monitor: Monitor, clock: FakeClock) -> None:
    monitor.observe("a1", Health.HEALTHY)
    clock.advance(60_000)
    restarted = Monitor(clock, monitor.store)  # a control plane started on the same store
    assert restarted.health("a1") is Health.DOWN
    clock.advance(60_000)
    assert restarted.sweep() == []
    assert restarted.observe("a1", Health.HEALTHY) == HealthTransition("a1", Health.DOWN, Health.HEALTHY)


def test_sweep_only_touches_silent_appliances(monitor: Monitor, clock: FakeClock) -> None:
    monitor.observe("quiet", Health.HEALTHY)
    clock.advance(2000)
    monitor.observe("chatty", Health.HEALTHY)
    clock.advance(1000)
    assert monitor.sweep() == [HealthTransition("quiet", Health.HEALTHY, Health.DOWN)]
    assert monitor.health("chatty") is Health.HEALTHY


def test_unknown_appliances_have_no_health(monitor: Monitor) -> None:
    with pytest.raises(KeyError):
        monitor.health("never-seen")

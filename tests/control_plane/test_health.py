"""The per-appliance health state machine, driven by a fake clock."""

from __future__ import annotations

import pytest

from control_plane.health import HealthMonitor, HealthPolicy, HealthTransition, judge_report
from control_plane.model import ApplianceState, Health

from .fakes import FakeClock

POLICY = HealthPolicy(down_after_ms=3000, degraded_error_ratio=0.05)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def monitor(clock: FakeClock) -> HealthMonitor:
    return HealthMonitor(POLICY, clock)


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


def test_first_sign_of_life_is_a_transition_from_down(monitor: HealthMonitor) -> None:
    assert monitor.observe("a1", Health.HEALTHY) == HealthTransition("a1", Health.DOWN, Health.HEALTHY)
    assert monitor.health("a1") is Health.HEALTHY
    assert "a1" in monitor and len(monitor) == 1


def test_down_exactly_after_down_after_ms_of_silence(monitor: HealthMonitor, clock: FakeClock) -> None:
    monitor.observe("a1", Health.HEALTHY)
    clock.advance(2999)
    assert monitor.sweep() == []
    assert monitor.health("a1") is Health.HEALTHY
    clock.advance(1)
    assert monitor.sweep() == [HealthTransition("a1", Health.HEALTHY, Health.DOWN)]
    assert monitor.health("a1") is Health.DOWN
    clock.advance(10_000)
    assert monitor.sweep() == []  # reported once, not on every sweep


def test_each_heartbeat_restarts_the_deadline(monitor: HealthMonitor, clock: FakeClock) -> None:
    monitor.observe("a1", Health.HEALTHY)
    for _ in range(10):
        clock.advance(2000)
        assert monitor.observe("a1", Health.HEALTHY) is None
        assert monitor.sweep() == []
    assert monitor.health("a1") is Health.HEALTHY


def test_heartbeat_brings_a_down_appliance_back(monitor: HealthMonitor, clock: FakeClock) -> None:
    monitor.observe("a1", Health.DEGRADED)
    clock.advance(3000)
    monitor.sweep()
    assert monitor.observe("a1", Health.HEALTHY) == HealthTransition("a1", Health.DOWN, Health.HEALTHY)


def test_reported_health_changes_are_transitions(monitor: HealthMonitor) -> None:
    monitor.observe("a1", Health.HEALTHY)
    assert monitor.observe("a1", Health.DEGRADED) == HealthTransition("a1", Health.HEALTHY, Health.DEGRADED)
    assert monitor.observe("a1", Health.DRAINING) == HealthTransition("a1", Health.DEGRADED, Health.DRAINING)
    assert monitor.observe("a1", Health.DRAINING) is None


def test_silent_draining_appliance_goes_down(monitor: HealthMonitor, clock: FakeClock) -> None:
    monitor.observe("a1", Health.DRAINING)
    clock.advance(3000)
    assert monitor.sweep() == [HealthTransition("a1", Health.DRAINING, Health.DOWN)]


def test_tracked_down_appliance_stays_down_until_seen(monitor: HealthMonitor, clock: FakeClock) -> None:
    monitor.track_down("a1")
    assert monitor.health("a1") is Health.DOWN
    clock.advance(60_000)
    assert monitor.sweep() == []
    assert monitor.observe("a1", Health.HEALTHY) == HealthTransition("a1", Health.DOWN, Health.HEALTHY)


def test_sweep_only_touches_silent_appliances(monitor: HealthMonitor, clock: FakeClock) -> None:
    monitor.observe("quiet", Health.HEALTHY)
    clock.advance(2000)
    monitor.observe("chatty", Health.HEALTHY)
    clock.advance(1000)
    assert monitor.sweep() == [HealthTransition("quiet", Health.HEALTHY, Health.DOWN)]
    assert monitor.health("chatty") is Health.HEALTHY


def test_a_sign_of_life_cannot_report_down(monitor: HealthMonitor) -> None:
    with pytest.raises(ValueError):
        monitor.observe("a1", Health.DOWN)


def test_forget_and_unknown(monitor: HealthMonitor) -> None:
    monitor.observe("a1", Health.HEALTHY)
    monitor.forget("a1")
    monitor.forget("never-seen")
    with pytest.raises(KeyError):
        monitor.health("a1")

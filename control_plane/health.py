"""The health state machine of every appliance, driven by signs of life and an injected clock.

Transitions (precedence DOWN > DRAINING > DEGRADED > HEALTHY)::

    (loaded from the DB) ----------------------------------> DOWN
    registration or heartbeat reporting state draining/drained -> DRAINING
    registration or heartbeat reporting healthy=false or error_ratio > threshold -> DEGRADED
    any other registration or heartbeat ------------------> HEALTHY
    no registration/heartbeat for down_after_ms (sweep) ---> DOWN

A single heartbeat brings a DOWN appliance back: steering sends viewers to it again at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .clock import Clock
from .model import ApplianceState, Health


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    # No sign of life for this long makes an appliance DOWN.
    down_after_ms: int
    # A reported error ratio strictly above this makes an appliance DEGRADED.
    degraded_error_ratio: float


@dataclass(frozen=True, slots=True)
class HealthTransition:
    appliance_id: str
    before: Health
    after: Health


def judge_report(policy: HealthPolicy, state: ApplianceState, healthy: bool, error_ratio: float) -> Health:
    """The health an appliance has right after a sign of life reporting these values."""
    if state in (ApplianceState.DRAINING, ApplianceState.DRAINED):
        return Health.DRAINING
    if not healthy or error_ratio > policy.degraded_error_ratio:
        return Health.DEGRADED
    return Health.HEALTHY


@dataclass(slots=True)
class _Entry:
    health: Health
    # Monotonic time of the last sign of life; None: none since this process started.
    last_seen_ms: int | None


class HealthMonitor:
    """Health of every known appliance. Not safe across threads; use from one event loop."""

    def __init__(self, policy: HealthPolicy, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    @property
    def policy(self) -> HealthPolicy:
        return self._policy

    def track_down(self, appliance_id: str) -> None:
        """Know ``appliance_id`` without any sign of life yet (e.g. loaded from the DB): DOWN."""
        self._entries[appliance_id] = _Entry(Health.DOWN, None)

    def observe(self, appliance_id: str, reported: Health) -> HealthTransition | None:
        """Record a sign of life with the health it implies (see :func:`judge_report`).

        Starts tracking unknown ids. Returns the transition, or None when the health is unchanged.
        """
        if reported is Health.DOWN:
            raise ValueError("a sign of life cannot report DOWN")
        now = self._clock.monotonic_ms()
        entry = self._entries.get(appliance_id)
        if entry is None:
            self._entries[appliance_id] = _Entry(reported, now)
            return HealthTransition(appliance_id, Health.DOWN, reported)
        before = entry.health
        entry.health = reported
        entry.last_seen_ms = now
        return None if before is reported else HealthTransition(appliance_id, before, reported)

    def sweep(self) -> list[HealthTransition]:
        """Mark DOWN every appliance silent for down_after_ms; returns those transitions."""
        now = self._clock.monotonic_ms()
        deadline = self._policy.down_after_ms
        out: list[HealthTransition] = []
        for appliance_id, entry in self._entries.items():
            if entry.health is Health.DOWN or entry.last_seen_ms is None:
                continue
            if now - entry.last_seen_ms >= deadline:
                out.append(HealthTransition(appliance_id, entry.health, Health.DOWN))
                entry.health = Health.DOWN
        return out

    def health(self, appliance_id: str) -> Health:
        """Current health. Raises KeyError for an appliance never tracked."""
        return self._entries[appliance_id].health

    def forget(self, appliance_id: str) -> None:
        """Stop tracking ``appliance_id`` (no-op when unknown)."""
        self._entries.pop(appliance_id, None)

    def __contains__(self, appliance_id: object) -> bool:
        return appliance_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

"""The health state machine of every appliance, driven by signs of life and the fleet's clock.

Transitions (precedence DOWN > DRAINING > DEGRADED > HEALTHY)::

    (stored, and silent for down_after_ms) ----------------> DOWN
    registration or heartbeat reporting state draining/drained -> DRAINING
    registration or heartbeat reporting healthy=false or error_ratio > threshold -> DEGRADED
    any other registration or heartbeat ------------------> HEALTHY
    no registration/heartbeat for down_after_ms (sweep) ---> DOWN

A single heartbeat brings a DOWN appliance back: steering sends viewers to it again at once.
Silence is judged from the sign of life stored in the shared database, so it does not matter which
replica an appliance's heartbeats reach (see ``registry.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

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


def down_cutoff_ms(policy: HealthPolicy, now_ms: int) -> int:
    """The latest sign of life (unix ms) that leaves an appliance DOWN at ``now_ms``: silence of
    exactly ``down_after_ms`` is DOWN."""
    return now_ms - policy.down_after_ms

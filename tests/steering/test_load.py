from __future__ import annotations

import math

import pytest

from steering.load import RecentAssignments, load_bound


def test_assignments_decay_exponentially_per_appliance_and_site() -> None:
    now = [0.0]
    recent = RecentAssignments(window=2.0, clock=lambda: now[0])
    for _ in range(4):
        recent.record("a1", "east")
    recent.record("a2", "east")
    assert recent.appliance("a1") == 4.0 and recent.site("east") == 5.0
    now[0] = 2.0
    assert recent.appliance("a1") == pytest.approx(4 / math.e)
    assert recent.site("east") == pytest.approx(5 / math.e)
    recent.record("a1", "east")
    assert recent.appliance("a1") == pytest.approx(4 / math.e + 1)
    now[0] = 60.0
    assert recent.appliance("a1") < 1e-5 and recent.appliance("never") == 0.0 and recent.site("west") == 0.0
    with pytest.raises(ValueError):
        RecentAssignments(window=0)


def test_load_bound_is_haproxy_hash_balance_factor() -> None:
    assert load_bound(0, 3, 1.25) == 1.0  # an idle site takes a viewer anywhere
    assert load_bound(10, 2, 1.25) == 7.0  # ceil(1.25 * 11 / 2)
    assert load_bound(99, 4, 1.0) == 25.0
    assert load_bound(5, 0, 1.25) == math.inf

"""Simulation rules (capacity from the footprint, ratios) and Belady on hand-checked traces."""

from __future__ import annotations

import random

import pytest

from appliance.eviction import Belady, Request, SimulationError, make_policy, simulate
from appliance.eviction.simulate import capacity_for, footprint, replay


def test_capacity_is_objects_for_unit_sizes_and_bytes_otherwise() -> None:
    unit = [Request(k, 1) for k in "abcabd"]
    sized = [Request("a", 100), Request("b", 300), Request("a", 100)]
    assert footprint(unit).unit_sizes and capacity_for(footprint(unit), 0.5) == 2
    assert not footprint(sized).unit_sizes and capacity_for(footprint(sized), 0.5) == 200
    with pytest.raises(SimulationError, match="holds nothing"):
        capacity_for(footprint(unit), 0.1)
    with pytest.raises(SimulationError, match="no requests"):
        simulate([], "lru", 0.5)
    with pytest.raises(SimulationError, match="fraction"):
        capacity_for(footprint(unit), 1.5)


def test_object_and_byte_miss_ratios() -> None:
    trace = [Request("a", 10), Request("b", 30), Request("a", 10), Request("b", 30)]
    result = simulate(trace, "lru", 1.0)
    assert (result.misses, result.requests, result.missed_bytes, result.requested_bytes) == (2, 4, 40, 80)
    assert result.object_miss_ratio == 0.5 and result.byte_miss_ratio == 0.5
    small = simulate(trace, "lru", 0.75)  # 30 bytes: "b" evicts "a" and back
    assert small.object_miss_ratio == 1.0 and small.as_dict()["byte_miss_ratio"] == 1.0


def test_belady_textbook_example() -> None:
    # Reference string from Silberschatz et al.: 3 frames, OPT has 9 faults.
    keys = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
    requests = [(k, 1) for k in keys]
    result = replay(requests, Belady(3, requests), "belady", 3)
    assert result.misses == 9


def _optimal_misses(keys: list[int], capacity: int) -> int:
    """Brute force over every eviction choice (demand paging), for tiny traces."""
    states: dict[frozenset[int], int] = {frozenset(): 0}
    for key in keys:
        nxt: dict[frozenset[int], int] = {}
        for held, misses in states.items():
            if key in held:
                options = [(held, misses)]
            elif len(held) < capacity:
                options = [(held | {key}, misses + 1)]
            else:
                options = [((held - {v}) | {key}, misses + 1) for v in held]
            for state, m in options:
                nxt[state] = min(m, nxt.get(state, m))
        states = nxt
    return min(states.values())


def test_belady_is_optimal_on_random_unit_traces() -> None:
    rng = random.Random(3)
    for _ in range(30):
        keys = [rng.randint(0, 6) for _ in range(18)]
        requests = [(k, 1) for k in keys]
        for capacity in (2, 3):
            belady = replay(requests, Belady(capacity, requests), "belady", capacity).misses
            assert belady == _optimal_misses(keys, capacity)
            for name in ("fifo", "lru", "sieve", "streamfleet"):
                assert belady <= replay(requests, make_policy(name, capacity), name, capacity).misses


def test_belady_needs_the_trace_in_order() -> None:
    requests = [("a", 1), ("b", 1)]
    belady = Belady(1, requests)
    with pytest.raises(ValueError, match="not the trace's request"):
        belady.request("b", 1)


def test_belady_variable_sizes_never_exceed_capacity() -> None:
    rng = random.Random(5)
    requests = [(f"k{rng.randint(0, 30)}", 0) for _ in range(500)]
    sizes = {key: rng.randint(1, 40) for key, _ in requests}
    sized = [(key, sizes[key]) for key, _ in requests]
    belady = Belady(100, sized)
    for key, size in sized:
        belady.request(key, size)
        assert belady.used_bytes <= 100

"""Contract tests every EvictionPolicy must pass (run against each implementation)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from appliance.policy import EvictionPolicy, LRUPolicy
from streamfleet.addressing import ChunkKey, make_key, segment_name

POLICIES: list[Callable[[], EvictionPolicy]] = [LRUPolicy]


def k(n: int) -> ChunkKey:
    return make_key("clip", "480p", segment_name(n))


@pytest.fixture(params=POLICIES, ids=lambda p: p.__name__)
def policy(request: pytest.FixtureRequest) -> EvictionPolicy:
    factory: Callable[[], EvictionPolicy] = request.param
    return factory()


def drain(policy: EvictionPolicy, pinned: set[ChunkKey] | None = None) -> list[ChunkKey]:
    out = []
    while (victim := policy.victim(pinned or set())) is not None:
        out.append(victim)
        policy.remove(victim)
    return out


def test_empty_policy_has_no_victim(policy: EvictionPolicy) -> None:
    assert policy.victim(set()) is None


def test_every_inserted_key_is_eventually_a_victim_once(policy: EvictionPolicy) -> None:
    for n in range(5):
        policy.insert(k(n), 100)
    assert sorted(drain(policy), key=lambda key: key.name) == [k(n) for n in range(5)]


def test_removed_and_pinned_keys_are_never_victims(policy: EvictionPolicy) -> None:
    for n in range(4):
        policy.insert(k(n), 100)
    policy.remove(k(1))
    policy.remove(k(99))  # unknown: ignored
    policy.touch(k(98))  # unknown: ignored
    assert drain(policy, pinned={k(2)}) == [k(0), k(3)]
    assert policy.victim(set()) == k(2)


def test_lru_order_follows_use() -> None:
    lru = LRUPolicy()
    for n in range(4):
        lru.insert(k(n), 100)
    lru.touch(k(0))
    lru.insert(k(2), 100)  # re-insert counts as a use
    assert drain(lru) == [k(1), k(3), k(0), k(2)]

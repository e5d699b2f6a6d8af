"""One contract suite run against every policy: bytes, pins, victims, capacity."""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Any

import pytest

from appliance.eviction import POLICY_NAMES, NotCached, NoVictim, PolicyBase, StoreAdapter, make_policy


@pytest.fixture(params=POLICY_NAMES)
def name(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def fill(policy: PolicyBase[Any], keys: str, size: int = 10) -> None:
    for key in keys:
        policy.insert(key, size)


def test_empty_policy_has_no_victim(name: str) -> None:
    policy = make_policy(name, 100)
    assert len(policy) == 0 and policy.used_bytes == 0 and "a" not in policy
    with pytest.raises(NoVictim, match="nothing is cached"):
        policy.victim()


def test_insert_touch_remove_account_bytes(name: str) -> None:
    policy = make_policy(name, 1000)
    policy.insert("a", 10)
    policy.insert("b", 25)
    assert len(policy) == 2 and policy.used_bytes == 35 and "a" in policy and "b" in policy
    policy.insert("a", 10)  # re-insert of a held key is a use, not a second copy
    assert len(policy) == 2 and policy.used_bytes == 35
    policy.insert("a", 15)  # a re-fill with another size replaces it
    assert policy.used_bytes == 40 and policy.size_of("a") == 15
    policy.touch("a")
    policy.touch("missing")  # ignored
    policy.remove("missing")  # ignored
    policy.remove("a")
    assert "a" not in policy and len(policy) == 1 and policy.used_bytes == 25
    assert policy.victim() == "b"
    policy.remove("b")
    assert len(policy) == 0 and policy.used_bytes == 0
    with pytest.raises(NoVictim):
        policy.victim()


def test_victim_is_held_and_stable_until_removed(name: str) -> None:
    policy = make_policy(name, 1000)
    fill(policy, "abcdef")
    for key in "ace":
        policy.touch(key)
    first = policy.victim()
    assert first in policy and policy.victim() == first  # choosing does not evict
    policy.remove(first)
    assert first not in policy and policy.victim() != first


def test_evicting_everything_returns_each_key_once(name: str) -> None:
    policy = make_policy(name, 1000)
    fill(policy, "abcdefgh")
    for key in "bdh":
        policy.touch(key)
    evicted = []
    while len(policy):
        evicted.append(policy.victim())
        policy.remove(evicted[-1])
    assert sorted(evicted) == list("abcdefgh")


def test_pinned_keys_are_never_victims(name: str) -> None:
    policy = make_policy(name, 1000)
    fill(policy, "abcdef")
    policy.pin("a")  # the oldest key: the natural first victim of most policies
    policy.pin("d")
    assert policy.pinned_bytes == 20
    evicted = []
    while len(policy) > 2:
        evicted.append(policy.victim())
        policy.remove(evicted[-1])
    assert sorted(evicted) == list("bcef")
    with pytest.raises(NoVictim, match="pinned"):
        policy.victim()
    policy.unpin("d")
    assert policy.victim() == "d"


def test_pins_nest_and_unbalanced_pins_are_errors(name: str) -> None:
    policy = make_policy(name, 100)
    fill(policy, "ab")
    with pytest.raises(NotCached):
        policy.pin("zz")
    with pytest.raises(NotCached):
        policy.unpin("a")
    policy.pin("a")
    policy.pin("a")
    policy.touch("a")  # a pinned key may be used while pinned
    policy.unpin("a")
    policy.remove("b")
    with pytest.raises(NoVictim, match="pinned"):
        policy.victim()  # still pinned once
    policy.unpin("a")
    assert policy.victim() == "a" and policy.pinned_bytes == 0


def test_removing_a_pinned_key_forgets_its_pins(name: str) -> None:
    policy = make_policy(name, 100)
    fill(policy, "ab")
    policy.pin("a")
    policy.remove("a")
    assert "a" not in policy and policy.pinned_bytes == 0 and policy.used_bytes == 10
    with pytest.raises(NotCached):
        policy.unpin("a")
    policy.insert("a", 10)  # comes back as an ordinary, unpinned key
    policy.remove(policy.victim())
    policy.remove(policy.victim())
    assert len(policy) == 0


def test_request_hits_misses_and_refuses_what_cannot_fit(name: str) -> None:
    policy = make_policy(name, 100)
    assert policy.request("a", 10) is False
    assert policy.request("a", 10) is True
    assert policy.request("huge", 101) is False and "huge" not in policy
    policy.pin("a")
    policy.insert("b", 90)  # request() may turn a miss away (S3-FIFO's small queue); insert() never does
    policy.pin("b")
    with pytest.raises(NoVictim, match="pinned"):
        policy.request("c", 5)  # room only by evicting pinned keys: a clear error
    assert "c" not in policy and policy.used_bytes == 100
    policy.insert("d", 0)
    with pytest.raises(NoVictim, match="pinned"):
        policy.request("e", 5)  # evicting "d" would not be enough: refused up front
    assert "d" in policy


def test_capacity_and_bytes_hold_under_random_operations(name: str) -> None:
    rng = random.Random(f"contract/{name}")
    capacity = 500
    policy = make_policy(name, capacity)
    sizes: dict[Hashable, int] = {}
    pins: dict[Hashable, int] = {}
    hits = 0
    for _ in range(4000):
        key = f"k{int(rng.paretovariate(1.2)) % 60}"
        size = sizes.get(key, rng.randint(1, 60))
        op = rng.random()
        if op < 0.85:
            try:
                hit = policy.request(key, size)
            except NoVictim:
                assert key not in sizes and sum(sizes[k] for k in pins) + size > capacity
                assert len(policy) == len(sizes)  # refused up front: nothing was evicted
                continue
            hits += hit
            assert hit == (key in sizes)
            if key in policy:
                sizes[key] = size
        elif op < 0.92 and key in sizes:
            policy.pin(key)
            pins[key] = pins.get(key, 0) + 1
        elif op < 0.98 and pins:
            pinned = rng.choice(sorted(pins, key=str))
            policy.unpin(pinned)
            pins[pinned] -= 1
            if not pins[pinned]:
                del pins[pinned]
        else:
            policy.remove(key)
            pins.pop(key, None)
        for gone in [k for k in sizes if k not in policy]:
            assert gone not in pins
            del sizes[gone]
        assert len(policy) == len(sizes) and policy.used_bytes == sum(sizes.values()) <= capacity
        assert policy.pinned_bytes == sum(sizes[k] for k in pins)
        if len(pins) < len(sizes):
            assert policy.victim() not in pins
    assert hits > 500  # the workload is skewed enough that every policy hits


def test_store_adapter_skips_the_stores_pins(name: str) -> None:
    adapter = StoreAdapter(make_policy(name, 1000))
    for key in "abcd":
        adapter.insert(key, 10)
    first = adapter.victim(frozenset())
    assert first is not None
    second = adapter.victim({first})
    assert second is not None and second != first
    assert adapter.victim(set("abcd")) is None
    assert len(adapter) == 4  # choosing evicts nothing; the skipped keys stay held
    adapter.remove(first)
    assert len(adapter) == 3


def test_factory_rejects_unknown_names_and_parameters() -> None:
    with pytest.raises(ValueError, match="unknown eviction policy"):
        make_policy("lfu", 10)
    with pytest.raises(ValueError, match="bad parameters"):
        make_policy("lru", 10, colour="red")
    with pytest.raises(ValueError, match="positive"):
        make_policy("sieve", 0)

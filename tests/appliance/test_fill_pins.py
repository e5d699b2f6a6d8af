"""Fill pins in the chunk store: the manifest's titles survive eviction pressure under every policy,
and a manifest change makes the titles it dropped ordinary cache again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.eviction import POLICY_NAMES, StoreAdapter, make_policy
from appliance.policy import EvictionPolicy, LRUPolicy, PinnablePolicy
from appliance.store import ChunkStore
from streamfleet.addressing import ChunkKey, make_key, segment_name

PolicyFactory = Callable[[int], EvictionPolicy]


def adapted(name: str) -> PolicyFactory:
    def build(capacity: int) -> EvictionPolicy:
        return StoreAdapter(make_policy(name, capacity))

    return build


FACTORIES: dict[str, PolicyFactory] = {"store-lru": lambda capacity: LRUPolicy()}
FACTORIES.update({name: adapted(name) for name in POLICY_NAMES})


@pytest.fixture(params=sorted(FACTORIES))
def policy(request: pytest.FixtureRequest) -> PolicyFactory:
    factory: PolicyFactory = FACTORIES[request.param]
    return factory


def k(title: str, n: int) -> ChunkKey:
    return make_key(title, "480p", segment_name(n))


def put(store: ChunkStore, key: ChunkKey, size: int) -> None:
    with store.writer(key) as writer:
        writer.write(bytes(size))
        writer.commit()


def opened(root: Path, capacity: int, policy: PolicyFactory) -> ChunkStore:
    store = ChunkStore(root, capacity, policy=policy(capacity))
    store.open()
    return store


def test_pinned_titles_survive_eviction_pressure(tmp_path: Path, policy: PolicyFactory) -> None:
    store = opened(tmp_path, 2000, policy)
    store.pin_titles(["film"])
    for n in range(4):
        put(store, k("film", n), 250)  # 1000 bytes pinned, including chunks stored after the pin
    assert store.fill_pinned_bytes == 1000 and store.fill_pinned(k("film", 99))
    for n in range(40):  # viewers' misses: 4000 bytes through a 1000-byte remainder
        put(store, k("viral", n), 100)
        store.unpin(store.pin(k("viral", n)).key)
        assert store.used_bytes <= 2000
    assert all(k("film", n) in store for n in range(4))
    assert sum(k("viral", n) in store for n in range(40)) == 10
    assert store.stats.evictions == 30 and store.fill_pinned_bytes == 1000


def test_a_manifest_change_unpins_the_titles_it_dropped(tmp_path: Path, policy: PolicyFactory) -> None:
    store = opened(tmp_path, 1000, policy)
    store.pin_titles(["film", "show"])
    for n in range(3):
        put(store, k("film", n), 200)
        put(store, k("show", n), 100)
    assert store.fill_pinned_bytes == 900
    store.pin_titles(["show", "news"])  # the next manifest: film is ordinary cache now
    assert store.fill_pinned_bytes == 300 and not store.fill_pinned(k("film", 0))
    assert all(k("film", n) in store for n in range(3)), "unpinning deletes nothing"
    for n in range(7):
        put(store, k("news", n), 100)
    # 300 (show) + 700 (news) pinned fill the store: film had to go, nothing pinned did.
    assert not any(k("film", n) in store for n in range(3))
    assert all(k("show", n) in store for n in range(3)) and all(k("news", n) in store for n in range(7))
    assert store.used_bytes == 1000 == store.fill_pinned_bytes


def test_releasing_pins_evicts_at_once_when_over_capacity(tmp_path: Path, policy: PolicyFactory) -> None:
    store = opened(tmp_path, 1000, policy)
    store.pin_titles(["film"])
    for n in range(5):
        put(store, k("film", n), 300)  # more than fits: everything is pinned, the store stays over
    assert store.used_bytes == 1500
    store.pin_titles([])
    assert store.used_bytes <= 1000 and store.fill_pinned_bytes == 0


def test_lru_parks_pinned_keys_so_victims_skip_nothing() -> None:
    policy = LRUPolicy()
    assert isinstance(policy, PinnablePolicy)
    keys = [k("film", n) for n in range(3)]
    for key in keys:
        policy.insert(key, 1)
    policy.pin(keys[0])
    policy.insert(keys[0], 1)  # a re-fill while pinned stays parked
    assert policy.victim(set()) == keys[1] and len(policy) == 3
    policy.unpin(keys[0])  # back as the most recently used
    policy.remove(keys[1])
    assert policy.victim(set()) == keys[2]
    policy.remove(keys[2])
    assert policy.victim(set()) == keys[0]

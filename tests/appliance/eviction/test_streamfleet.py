"""The ``streamfleet`` policy: its targets on real traces, and the mechanisms behind them."""

from __future__ import annotations

import pytest

from appliance.eviction import Request, StreamfleetPolicy
from appliance.eviction.simulate import footprint, simulate

FRACTIONS = (0.001, 0.01, 0.1)


def test_youtube_target_at_ten_percent(youtube: list[Request]) -> None:
    # README: LFU .684, S3-FIFO .685, ARC .675, Belady .588.
    assert simulate(youtube, "streamfleet", 0.1).object_miss_ratio <= 0.660


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_never_worse_than_lru_on_youtube(youtube: list[Request], fraction: float) -> None:
    fp = footprint(youtube)
    lru = simulate(youtube, "lru", fraction, fp)
    ours = simulate(youtube, "streamfleet", fraction, fp)
    assert ours.object_miss_ratio <= lru.object_miss_ratio


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_never_worse_than_lru_on_chunk_traffic(youtube_chunks: list[Request], fraction: float) -> None:
    # The defaults (history_factor=8, size_sample=4) hold on sized, sequential segment traffic too.
    fp = footprint(youtube_chunks)
    lru = simulate(youtube_chunks, "lru", fraction, fp)
    ours = simulate(youtube_chunks, "streamfleet", fraction, fp)
    assert ours.object_miss_ratio <= lru.object_miss_ratio
    assert ours.byte_miss_ratio <= lru.byte_miss_ratio


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_never_worse_than_lru_on_tencent(tencent: list[Request], fraction: float) -> None:
    fp = footprint(tencent)
    lru = simulate(tencent, "lru", fraction, fp)
    ours = simulate(tencent, "streamfleet", fraction, fp)
    assert ours.object_miss_ratio <= lru.object_miss_ratio
    assert ours.byte_miss_ratio <= lru.byte_miss_ratio


def test_history_outlives_eviction_and_admits_to_main() -> None:
    policy: StreamfleetPolicy[str] = StreamfleetPolicy(3)
    for key in ["a", "b", "c", "d"]:  # "a" is evicted from the window, and remembered
        policy.request(key, 1)
    assert "a" not in policy
    assert policy.request("a", 1) is False  # a miss, but a remembered one: it goes to main
    for key in ["e", "f", "g", "h"]:  # a scan of new keys churns the window only
        policy.request(key, 1)
    assert "a" in policy


def test_without_history_a_scan_flushes_everything() -> None:
    policy: StreamfleetPolicy[str] = StreamfleetPolicy(3, history_factor=0)
    for key in ["a", "b", "c", "d", "a", "e", "f", "g", "h"]:
        policy.request(key, 1)
    assert "a" not in policy


def test_window_grows_when_recency_pays_and_shrinks_when_frequency_does() -> None:
    policy: StreamfleetPolicy[str] = StreamfleetPolicy(10)
    # Each key comes back just after it left a small window: ghost hits on window evictions.
    for i in range(200):
        policy.request(f"k{i}", 1)
        if i >= 12:
            policy.request(f"k{i - 12}", 1)
    grown = policy.window_target
    assert grown > 5
    # Now a hot set of 9 keys recurs while one-off keys stream through: main needs the room.
    for i in range(400):
        policy.request(f"hot{i % 9}", 1)
        policy.request(f"once{i}", 1)
    assert policy.window_target < grown


def test_size_aware_eviction_prefers_large_rarely_used_keys() -> None:
    policy: StreamfleetPolicy[str] = StreamfleetPolicy(1000, size_sample=4)
    for key, size in [("small", 10), ("large", 400)]:
        policy.insert(key, size)
        policy.touch(key)  # both have reuse evidence: main
    assert policy.victim() == "large"  # older-or-not, 2 uses per 400 bytes is worth less
    plain: StreamfleetPolicy[str] = StreamfleetPolicy(1000, size_sample=1)
    for key, size in [("small", 10), ("large", 400)]:
        plain.insert(key, size)
        plain.touch(key)
    assert plain.victim() == "small"  # plain LRU order


def test_an_unpinned_key_returns_as_just_used() -> None:
    policy: StreamfleetPolicy[str] = StreamfleetPolicy(3)
    for key in "abc":
        policy.request(key, 1)
    policy.pin("a")
    policy.request("b", 1)
    policy.unpin("a")
    policy.request("d", 1)  # evicts the least recently used unpinned key, "c"
    assert "a" in policy and "b" in policy and "c" not in policy


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        StreamfleetPolicy(10, history_factor=-1)
    with pytest.raises(ValueError):
        StreamfleetPolicy(10, size_sample=0)

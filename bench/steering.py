"""Steering benchmark: ranking latency, balance, disruption, and HTTP throughput of /v1/playback.

Prints one JSON line. Ranking figures run in-process: ``rank_*`` over the shared placement
function alone, ``choose_*`` over steering's real ranking path (``Ranker.choose`` on a synthetic
FleetView: localization, cached site plan, bounded load, origin), once with the plan cached (the
hot path, a few hot titles) and once uncached (every title new). The HTTP figures run a real
fleet (origin, control plane, appliances, steering) on loopback and load steering with wrk.
A same-run reference — a plain-Python rendezvous ranking over mmh3 — gives
``rank_speedup_vs_plain_hrw`` so the figure means something on a noisy shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter

import mmh3

from steering.fleet import Appliance, FleetView, Health
from steering.ranking import Ranker, RankingPolicy
from streamfleet.placement import Member, Placement


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def plain_hrw_rank(title: str, ids: list[str]) -> list[str]:
    """Reference: the textbook per-member loop, one mmh3 call and one log per member."""
    scored = []
    for i in ids:
        u = (mmh3.hash(title, mmh3.hash(i, signed=False), signed=False) + 0.5) / 2**32
        scored.append((-math.log(u), i))
    return [i for _, i in sorted(scored)]


def rank_latency_us(n: int, samples: int) -> tuple[float, float, float]:
    """(p50, p99, reference p50) in microseconds for ranking n appliances."""
    placement = Placement([Member(f"appliance-{i}", 1.0 + (i % 4)) for i in range(n)])
    ids = [f"appliance-{i}" for i in range(n)]
    for i in range(500):
        placement.rank(f"warm-{i}")
    times = []
    for i in range(samples):
        t0 = time.perf_counter()
        placement.rank(f"title-{i}")
        times.append((time.perf_counter() - t0) * 1e6)
    ref = []
    for i in range(max(200, samples // 10)):
        t0 = time.perf_counter()
        plain_hrw_rank(f"title-{i}", ids)
        ref.append((time.perf_counter() - t0) * 1e6)
    return percentile(times, 0.5), percentile(times, 0.99), percentile(ref, 0.5)


def synthetic_view(n: int) -> FleetView:
    """One site of n appliances (mixed capacities, some load, a few holding each hot title)."""
    appliances = [
        Appliance(
            f"appliance-{i}",
            "site-a",
            f"http://127.0.0.1:{9000 + i}",
            Health.HEALTHY,
            capacity_bytes=(1 + i % 4) * 10**12,
            prefixes=("10.0.0.0/8",) if i == 0 else (),
            titles=frozenset(f"hot-{k}" for k in range(i % 7, 100, 7)),
            connections=i % 13,
        )
        for i in range(n)
    ]
    return FleetView(1, appliances)


def choose_latency_us(n: int, samples: int) -> tuple[float, float]:
    """(p99 with the site plan cached, p99 uncached) of Ranker.choose, in microseconds."""
    import ipaddress

    view = synthetic_view(n)
    client = ipaddress.ip_address("10.1.2.3")
    ranker = Ranker(RankingPolicy(default_site="site-a", max_appliance_urls=4))
    for i in range(200):
        ranker.choose(view, client, f"hot-{i % 100}")
    cached = []
    for i in range(samples):
        t0 = time.perf_counter()
        ranker.choose(view, client, f"hot-{i % 100}")
        cached.append((time.perf_counter() - t0) * 1e6)
    uncached = []
    for i in range(max(500, samples // 5)):
        t0 = time.perf_counter()
        ranker.choose(view, client, f"cold-{i}")
        uncached.append((time.perf_counter() - t0) * 1e6)
    return percentile(cached, 0.99), percentile(uncached, 0.99)


def balance_and_disruption(n: int, titles: list[str]) -> tuple[float, float, int]:
    """(max/mean first choices, moved fraction / ideal 1/n, moves between survivors)."""
    members = [Member(f"appliance-{i}") for i in range(n)]
    before = [r[0] for r in Placement(members).top_many(titles, 1)]
    counts = Counter(before)
    balance = max(counts.values()) / (len(titles) / n)
    gone = members[n // 2].id
    after = [r[0] for r in Placement([m for m in members if m.id != gone]).top_many(titles, 1)]
    moved = sum(1 for b, a in zip(before, after, strict=True) if a != b)
    survivor_moves = sum(1 for b, a in zip(before, after, strict=True) if a != b and b != gone)
    return balance, (moved / len(titles)) / (1 / n), survivor_moves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--titles", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--http-seconds", type=float, default=10.0)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()

    result: dict[str, object] = {}
    p50s, p99s, speedups = {}, {}, {}
    for n in (10, 100, 1000):
        p50, p99, ref = rank_latency_us(n, args.samples)
        p50s[str(n)], p99s[str(n)], speedups[str(n)] = round(p50, 2), round(p99, 2), round(ref / p50, 2)
    result["rank_p50_us"], result["rank_p99_us"] = p50s, p99s
    result["rank_speedup_vs_plain_hrw"] = speedups
    cached_p99, uncached_p99 = {}, {}
    for n in (10, 100, 1000):
        c, u = choose_latency_us(n, args.samples)
        cached_p99[str(n)], uncached_p99[str(n)] = round(c, 2), round(u, 2)
    result["choose_p99_us"], result["choose_uncached_p99_us"] = cached_p99, uncached_p99

    titles = [f"title-{i}" for i in range(args.titles)]
    balance, disruption, survivor_moves = {}, {}, 0
    for n in (10, 100):
        b, d, s = balance_and_disruption(n, titles)
        balance[str(n)], disruption[str(n)] = round(b, 4), round(d, 4)
        survivor_moves += s
    result["balance"], result["disruption_ratio"] = balance, disruption
    result["survivor_moves"] = survivor_moves
    if not args.no_http:
        from bench.steering_http import measure_http

        result.update(measure_http(args.http_seconds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

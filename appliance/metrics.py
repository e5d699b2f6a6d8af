"""Prometheus metrics of one appliance, in a registry of its own (no global state)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .stats import ServingStats
from .store import ChunkStore

PREFIX = "streamfleet_appliance"


class _ApplianceCollector(Collector):
    """Reads the counters at scrape time, so ServingStats and StoreStats stay the one source."""

    def __init__(self, stats: ServingStats, store: ChunkStore) -> None:
        self._stats = stats
        self._store = store

    def collect(self) -> Iterator[Metric]:
        s = self._stats
        requests = CounterMetricFamily(
            f"{PREFIX}_requests", "Content requests past the token check, by result.", labels=["result"]
        )
        requests.add_metric(["hit"], s.hits)
        requests.add_metric(["miss"], s.misses)
        requests.add_metric(["error"], s.errors)
        yield requests
        sent = CounterMetricFamily(
            f"{PREFIX}_bytes", "Body bytes sent to clients, by result.", labels=["result"]
        )
        sent.add_metric(["hit"], s.hit_bytes)
        sent.add_metric(["miss"], s.miss_bytes)
        yield sent
        yield CounterMetricFamily(
            f"{PREFIX}_token_rejections", "Requests refused for a bad or expired token.", value=s.rejected
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_in_flight_requests", "HTTP requests being handled.", value=s.in_flight
        )
        store = self._store
        yield GaugeMetricFamily(
            f"{PREFIX}_disk_used_bytes", "Bytes of chunks on disk.", value=store.used_bytes
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_disk_capacity_bytes", "Configured chunk store capacity.", value=store.capacity_bytes
        )
        yield GaugeMetricFamily(f"{PREFIX}_chunks", "Chunks on disk.", value=len(store))
        yield CounterMetricFamily(
            f"{PREFIX}_evictions", "Chunks evicted to stay under capacity.", value=store.stats.evictions
        )
        yield CounterMetricFamily(
            f"{PREFIX}_evicted_bytes",
            "Bytes evicted to stay under capacity.",
            value=store.stats.evicted_bytes,
        )


class ApplianceMetrics:
    """The registry /metrics renders, plus the upstream latency histogram fed by the fetcher."""

    def __init__(self, stats: ServingStats, store: ChunkStore) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_ApplianceCollector(stats, store))
        self.upstream_seconds = Histogram(
            f"{PREFIX}_upstream_latency_seconds",
            "Time to fetch, verify and store one chunk from the origin, by outcome.",
            labelnames=["outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )

    def observe_upstream(self, outcome: str, seconds: float) -> None:
        self.upstream_seconds.labels(outcome=outcome).observe(seconds)

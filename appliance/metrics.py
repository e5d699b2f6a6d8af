"""Prometheus metrics of one appliance, in a registry of its own (no global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .stats import ServingStats
from .store import ChunkStore

PREFIX = "streamfleet_appliance"


class _ApplianceCollector(Collector):
    """Reads the counters at scrape time, so ServingStats and StoreStats stay the one source."""

    def __init__(
        self,
        stats: Callable[[], ServingStats],
        store: ChunkStore,
        connections: Callable[[], int],
        draining: Callable[[], bool],
    ) -> None:
        self._stats = stats
        self._store = store
        self._connections = connections
        self._draining = draining

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        requests = CounterMetricFamily(
            f"{PREFIX}_requests", "Content requests past the token check, by result.", labels=["result"]
        )
        requests.add_metric(["hit"], s.hits)
        requests.add_metric(["miss"], s.misses)
        requests.add_metric(["peer_fill"], s.peer_fills)
        requests.add_metric(["error"], s.errors)
        yield requests
        sent = CounterMetricFamily(
            f"{PREFIX}_bytes", "Body bytes sent to clients, by result.", labels=["result"]
        )
        sent.add_metric(["hit"], s.hit_bytes)
        sent.add_metric(["miss"], s.miss_bytes)
        sent.add_metric(["peer_fill"], s.peer_fill_bytes)
        sent.add_metric(["error"], s.error_bytes)
        yield sent
        yield CounterMetricFamily(
            f"{PREFIX}_single_flight_waits",
            "Requests that joined a fill or read-back check already running for their chunk.",
            value=s.flight_waits,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_peer_requests",
            "Requests from site peers filling their own miss.",
            value=s.peer_requests,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_token_rejections", "Requests refused for a bad or expired token.", value=s.rejected
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_in_flight_requests", "HTTP requests being handled.", value=s.in_flight
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_open_connections", "Client connections open right now.", value=self._connections()
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_draining", "1 while an operator has this appliance draining.", value=self._draining()
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
        yield CounterMetricFamily(
            f"{PREFIX}_corrupt_chunks",
            "Chunks whose bytes failed verification on read (dropped and fetched again).",
            value=store.stats.corrupt,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_disk_errors", "Failed disk operations.", value=store.stats.disk_errors
        )
        yield CounterMetricFamily(
            f"{PREFIX}_changed_chunks",
            "Verified chunks whose file changed on disk behind the store's back (hashed again).",
            value=store.stats.changed,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_scrubbed_bytes",
            "Bytes the scrubber read back and checked.",
            value=store.stats.scrubbed_bytes,
        )


class ApplianceMetrics:
    """The registry /metrics renders, plus the upstream latency histogram fed by the fetcher."""

    def __init__(
        self,
        stats: Callable[[], ServingStats],
        store: ChunkStore,
        connections: Callable[[], int] = lambda: 0,
        draining: Callable[[], bool] = lambda: False,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_ApplianceCollector(stats, store, connections, draining))
        self.upstream_seconds = Histogram(
            f"{PREFIX}_upstream_latency_seconds",
            "Time to fetch, verify and store one chunk from the origin, by outcome.",
            labelnames=["outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            f"{PREFIX}_upstream_attempt_seconds",
            "Time of one upstream attempt (a peer or the origin), by upstream and outcome.",
            labelnames=["upstream", "outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )

    def observe_upstream(self, outcome: str, seconds: float) -> None:
        self.upstream_seconds.labels(outcome=outcome).observe(seconds)

    def observe_attempt(self, upstream: str, outcome: str, seconds: float) -> None:
        self.attempt_seconds.labels(upstream=upstream, outcome=outcome).observe(seconds)

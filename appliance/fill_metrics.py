"""Prometheus view of the fill agent's progress (read at scrape time from FillStats and the store)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .fill import FillStats
from .metrics import PREFIX
from .store import ChunkStore

# Every result label of fill_chunks_total, exported even while zero.
CHUNK_RESULTS = ("origin", "peer", "present", "error", "no_room")


class FillCollector(Collector):
    """``streamfleet_appliance_fill_*``: bytes fetched, chunks by result, pinned bytes, progress."""

    def __init__(self, stats: FillStats, store: ChunkStore) -> None:
        self._stats = stats
        self._store = store

    def collect(self) -> Iterator[Metric]:
        s = self._stats
        yield CounterMetricFamily(
            f"{PREFIX}_fill_bytes", "Bytes the fill agent fetched from site peers or the origin.",
            value=s.bytes_filled,
        )
        chunks = CounterMetricFamily(
            f"{PREFIX}_fill_chunks",
            "Manifest chunks the fill agent handled, by result: fetched from the origin or a peer, "
            "found present, failed (retried), or skipped for lack of room.",
            labels=["result"],
        )
        for result in CHUNK_RESULTS:
            chunks.add_metric([result], s.chunks[result])
        yield chunks
        yield GaugeMetricFamily(
            f"{PREFIX}_fill_pinned_bytes", "Bytes on disk pinned by the fill manifest (never evicted).",
            value=self._store.fill_pinned_bytes,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_fill_manifest_version", "Version of the fill manifest being applied (0: none).",
            value=s.version,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_fill_done_bytes", "Bytes of the manifest's titles on disk.", value=s.bytes_done
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_fill_planned_bytes", "Bytes of every file of the manifest's titles.",
            value=s.bytes_total,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_fill_active", "1 while the fill agent is fetching chunks.",
            value=1 if s.state == "filling" else 0,
        )

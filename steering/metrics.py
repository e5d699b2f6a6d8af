"""Prometheus metrics of one steering app, in a registry of its own."""

from __future__ import annotations

import math
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .fleet import FleetSource


class SteeringMetrics:
    """The app's counters and gauges; fleet gauges are read from the FleetSource when scraped."""

    def __init__(
        self,
        fleet: FleetSource,
        *,
        coverage_zones: Callable[[], float] = lambda: 0.0,
        popularity_pending: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.registry = CollectorRegistry()
        self.playback_requests = Counter(
            "steering_playback_requests",
            "Playback requests answered, by HTTP status and the client's site",
            ["status", "site", "site_reason"],
            registry=self.registry,
        )
        self.playback_seconds = Histogram(
            "steering_playback_seconds",
            "Time to answer a playback request, catalog lookup included",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.misses = Counter(
            "streamfleet_steering_misses",
            "Answers whose best appliance (placement's first in the client's site, ignoring health) "
            "could not be used: kind=content (no appliance of the site holds the title) or "
            "kind=health (it is down, degraded, draining or over the load bound)",
            ["site", "kind"],
            registry=self.registry,
        )
        self.popularity_reports = Counter(
            "steering_popularity_reports",
            "Popularity batches sent to the control plane, by result (sent, kept, refused)",
            ["result"],
            registry=self.registry,
        )
        age = Gauge(
            "steering_fleet_state_age_seconds",
            "Seconds since the last fleet state arrived (+Inf before the first)",
            registry=self.registry,
        )
        age.set_function(lambda: _age(fleet))
        version = Gauge("steering_fleet_version", "Version of the fleet state in use", registry=self.registry)
        version.set_function(lambda: float(fleet.view.version))
        connected = Gauge(
            "steering_control_plane_connected",
            "1 while the control plane's fleet stream is up",
            registry=self.registry,
        )
        connected.set_function(lambda: 1.0 if fleet.connected else 0.0)
        healthy = Gauge(
            "steering_fleet_healthy_appliances",
            "Healthy appliances in the fleet state",
            registry=self.registry,
        )
        healthy.set_function(lambda: float(fleet.view.healthy_count))
        zones = Gauge(
            "steering_coverage_zones", "Networks in the coverage-zone file in use", registry=self.registry
        )
        zones.set_function(coverage_zones)
        pending = Gauge(
            "steering_popularity_pending_titles",
            "(site, title) pairs counted but not yet delivered to the control plane",
            registry=self.registry,
        )
        pending.set_function(popularity_pending)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _age(fleet: FleetSource) -> float:
    age = fleet.age_seconds()
    return math.inf if age is None else age

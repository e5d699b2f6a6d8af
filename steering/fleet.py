"""The fleet as steering sees it: an immutable snapshot with prefix routes and per-site placement."""

from __future__ import annotations

import enum
import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from streamfleet.clientip import IPAddress
from streamfleet.placement import Member, Placement, capacity_weight

from .prefixes import PrefixTable, Route


class Health(enum.Enum):
    UNSPECIFIED = "unspecified"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"
    DRAINING = "draining"


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Appliance:
    """One appliance of the fleet snapshot; ``url`` is the base players fetch from."""

    id: str
    site: str
    url: str
    health: Health
    capacity_bytes: int = 0
    prefixes: tuple[str, ...] = ()
    titles: frozenset[str] = frozenset()
    location: Location | None = None
    # Load as last reported by the appliance's heartbeat (0: unknown or idle).
    connections: int = 0
    egress_bytes_per_second: int = 0

    @property
    def weight(self) -> float:
        return placement_weight(self.capacity_bytes)


def placement_weight(capacity_bytes: int) -> float:
    """Placement weight of an appliance: the kernel's shared capacity weight (as fill planning)."""
    return capacity_weight(capacity_bytes)


class FleetView:
    """An immutable snapshot of the fleet, built once per fleet-state version.

    Safe to share across tasks: nothing changes after construction.
    """

    def __init__(self, version: int, appliances: Iterable[Appliance], generated_unix_ms: int = 0) -> None:
        self.version = version
        self.generated_unix_ms = generated_unix_ms
        by_id = {a.id: a for a in appliances}
        self.appliances: tuple[Appliance, ...] = tuple(by_id[k] for k in sorted(by_id))
        self._by_id = by_id
        self.sites: tuple[str, ...] = tuple(sorted({a.site for a in self.appliances}))
        self.prefixes, self.rejected_prefixes = _build_routes(self.appliances)
        healthy: dict[str, list[Member]] = {}
        everyone: dict[str, list[Member]] = {}
        degraded: dict[str, list[str]] = {}
        by_site: dict[str, list[Appliance]] = {}
        for a in self.appliances:
            by_site.setdefault(a.site, []).append(a)
            everyone.setdefault(a.site, []).append(Member(a.id, a.weight))
            if a.health is Health.HEALTHY:
                healthy.setdefault(a.site, []).append(Member(a.id, a.weight))
            elif a.health is Health.DEGRADED:
                degraded.setdefault(a.site, []).append(a.id)
        self._placements = {site: Placement(members) for site, members in healthy.items()}
        self._all_placements = {site: Placement(members) for site, members in everyone.items()}
        self._degraded = {site: tuple(ids) for site, ids in degraded.items()}
        self._by_site = {site: tuple(members) for site, members in by_site.items()}
        self._connections: dict[str, int] = {}
        for a in self.appliances:
            if a.health is Health.HEALTHY:
                self._connections[a.site] = self._connections.get(a.site, 0) + a.connections
        self._locations = _site_locations(self.appliances)

    @classmethod
    def empty(cls) -> FleetView:
        """The view before any fleet state arrived: no appliances, version 0."""
        return cls(0, ())

    def __len__(self) -> int:
        return len(self.appliances)

    def appliance(self, appliance_id: str) -> Appliance:
        """The appliance with this id. Raises KeyError when the snapshot has none."""
        return self._by_id[appliance_id]

    @property
    def healthy_count(self) -> int:
        return sum(len(p) for p in self._placements.values())

    def site_for(self, address: IPAddress) -> str | None:
        """The site whose longest advertised prefix contains ``address``; None when no prefix does."""
        return self.prefixes.lookup(address)

    def placement(self, site: str) -> Placement | None:
        """Placement over the site's HEALTHY appliances; None when the site has none."""
        return self._placements.get(site)

    def placement_ignoring_health(self, site: str) -> Placement | None:
        """Placement over every appliance of the site, whatever its health (the "best" choice
        had the whole site been up); None for a site without appliances."""
        return self._all_placements.get(site)

    def site_appliances(self, site: str) -> tuple[Appliance, ...]:
        """Every appliance of the site, whatever its health, sorted by id."""
        return self._by_site.get(site, ())

    def degraded(self, site: str) -> tuple[str, ...]:
        """Ids of the site's DEGRADED appliances, sorted."""
        return self._degraded.get(site, ())

    def site_connections(self, site: str) -> int:
        """Connections reported by the site's HEALTHY appliances, summed."""
        return self._connections.get(site, 0)

    def has_healthy(self, site: str) -> bool:
        """True when the site has at least one HEALTHY appliance."""
        return site in self._placements

    def site_locations(self) -> dict[str, Location]:
        """Mean location of every site that has one (a copy)."""
        return dict(self._locations)

    def healthy_sites(self) -> tuple[str, ...]:
        """Sites with at least one healthy appliance, sorted by name."""
        return tuple(sorted(self._placements))

    def site_location(self, site: str) -> Location | None:
        """Mean location of the site's appliances that report one; None when none does."""
        return self._locations.get(site)


def _build_routes(appliances: tuple[Appliance, ...]) -> tuple[PrefixTable, tuple[str, ...]]:
    """Routes from every advertised prefix; on conflicts a healthy advertiser, then the lower site wins."""
    routes: list[tuple[bool, str, str, Route]] = []
    rejected: list[str] = []
    for a in appliances:
        for text in a.prefixes:
            try:
                network = ipaddress.ip_network(text.strip(), strict=False)
            except ValueError:
                rejected.append(f"{a.id}:{text}")
                continue
            routes.append((a.health is not Health.HEALTHY, a.site, a.id, Route(network, a.site)))
    routes.sort(key=lambda r: (r[0], r[1], r[2]))
    return PrefixTable(r[3] for r in routes), tuple(rejected)


def _site_locations(appliances: tuple[Appliance, ...]) -> dict[str, Location]:
    sums: dict[str, tuple[float, float, int]] = {}
    for a in appliances:
        if a.location is None:
            continue
        lat, lon, n = sums.get(a.site, (0.0, 0.0, 0))
        sums[a.site] = (lat + a.location.latitude, lon + a.location.longitude, n + 1)
    return {site: Location(lat / n, lon / n) for site, (lat, lon, n) in sums.items()}


class FleetSource(Protocol):
    """Where the app gets the current fleet view from (the watcher, or a fixed view in tests)."""

    @property
    def view(self) -> FleetView: ...

    @property
    def connected(self) -> bool:
        """True while the control plane's stream is up."""
        ...

    def age_seconds(self) -> float | None:
        """Seconds since the last fleet state arrived; None before the first one."""
        ...


class StaticFleet:
    """A FleetSource that always answers the same view (tests, or a steering without control plane)."""

    def __init__(
        self, view: FleetView, *, connected: bool = True, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._view = view
        self._connected = connected
        self._clock = clock
        self._since = clock()

    @property
    def view(self) -> FleetView:
        return self._view

    @property
    def connected(self) -> bool:
        return self._connected

    def age_seconds(self) -> float | None:
        return self._clock() - self._since

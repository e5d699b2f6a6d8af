"""Fleet domain nouns as immutable dataclasses: registrations, heartbeat reports, fleet snapshots.

gRPC messages are converted to and from these in ``wire.py``; nothing here knows protobuf.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field


class Health(enum.Enum):
    """What steering needs to know about an appliance (see ``health.py`` for the transitions)."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"
    DRAINING = "draining"


class ApplianceState(enum.Enum):
    """The appliance's own operating state, as it reports in heartbeats."""

    ACTIVE = "active"
    DRAINING = "draining"
    DRAINED = "drained"


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Registration:
    """What an appliance says about itself when it registers (already validated)."""

    appliance_id: str
    site: str
    http_url: str
    capacity_bytes: int
    # Canonical CIDR strings, sorted and without duplicates.
    client_prefixes: tuple[str, ...]
    # None when the appliance did not say where it is.
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class LoadReport:
    """Load numbers of one heartbeat. Zero means "none" (or "not reported" by an old appliance)."""

    disk_used_bytes: int = 0
    disk_capacity_bytes: int = 0
    egress_bytes_per_second: int = 0
    connections: int = 0
    error_ratio: float = 0.0
    hits: int = 0
    misses: int = 0


@dataclass(frozen=True, slots=True)
class FillProgress:
    """The manifest version the appliance's fill agent applied and how far it got."""

    fill_version: int = 0
    bytes_done: int = 0
    bytes_total: int = 0


@dataclass(frozen=True, slots=True)
class HeartbeatReport:
    """One validated heartbeat."""

    appliance_id: str
    state: ApplianceState = ApplianceState.ACTIVE
    # The appliance's own view of itself: False when its disk fails or it is overloaded.
    healthy: bool = True
    load: LoadReport = field(default_factory=LoadReport)
    # Title ids held (complete or partial), sorted and without duplicates.
    titles: tuple[str, ...] = ()
    fill: FillProgress = field(default_factory=FillProgress)


@dataclass(frozen=True, slots=True)
class ApplianceRecord:
    """Everything the registry knows about one appliance; this is what SQLite stores."""

    registration: Registration
    registered_unix_ms: int
    state: ApplianceState = ApplianceState.ACTIVE
    healthy_reported: bool = True
    load: LoadReport = field(default_factory=LoadReport)
    titles: tuple[str, ...] = ()
    fill: FillProgress = field(default_factory=FillProgress)
    # None until the first heartbeat ever.
    last_heartbeat_unix_ms: int | None = None

    @property
    def appliance_id(self) -> str:
        return self.registration.appliance_id


@dataclass(frozen=True, slots=True)
class ApplianceStatus:
    """One appliance as steering and operators see it in a fleet snapshot."""

    appliance_id: str
    site: str
    http_url: str
    capacity_bytes: int
    client_prefixes: tuple[str, ...]
    location: Location | None
    health: Health
    state: ApplianceState
    disk_used_bytes: int
    egress_bytes_per_second: int
    connections: int
    titles: tuple[str, ...]
    # 0 when the appliance never sent a heartbeat.
    last_heartbeat_unix_ms: int


@dataclass(frozen=True, slots=True)
class FleetState:
    """An immutable, versioned snapshot of the fleet; equal versions mean equal content."""

    version: int
    appliances: tuple[ApplianceStatus, ...]
    generated_unix_ms: int

    def health_counts(self) -> dict[Health, int]:
        """Appliances per health; every Health is present (0 when none)."""
        counts = Counter(a.health for a in self.appliances)
        return {h: counts.get(h, 0) for h in Health}

    def site_health_counts(self) -> dict[tuple[str, Health], int]:
        """Appliances per (site, health); only pairs that occur."""
        return dict(Counter((a.site, a.health) for a in self.appliances))

    def get(self, appliance_id: str) -> ApplianceStatus | None:
        """The appliance's status, or None when the snapshot does not list it."""
        for status in self.appliances:
            if status.appliance_id == appliance_id:
                return status
        return None

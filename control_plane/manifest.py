"""The fill-manifest seam: what each appliance should hold, and when and how fast to fill it.

``fill.FillCoordinator`` (popularity x placement x capacity, plus the sites' schedules)
implements :class:`ManifestSource`; the gRPC service and the heartbeat reply only depend on this
Protocol. :class:`NoFill` is the null object (version 0, nothing to hold) for tests and tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class FillEntry:
    title: str
    # Lower is more valuable; the fill agent works through entries in this order.
    priority: int
    bytes: int


@dataclass(frozen=True, slots=True)
class FillWindow:
    """When and how fast an appliance may fill. Empty strings: no window configured."""

    start: str = ""
    end: str = ""
    tz: str = ""
    # 0: no rate limit.
    rate_bits_per_second: int = 0
    # Unix time until which filling runs regardless of the window; 0: not set.
    run_now_until: int = 0


@dataclass(frozen=True, slots=True)
class Manifest:
    # 0: no manifest was ever planned for this appliance.
    version: int
    entries: tuple[FillEntry, ...] = ()
    window: FillWindow = FillWindow()
    origin_url: str = ""


class ManifestSource(Protocol):
    def version_for(self, appliance_id: str) -> int:
        """Latest manifest version of ``appliance_id``; 0 when none exists."""
        ...

    def manifest_for(self, appliance_id: str, known_version: int) -> Manifest:
        """The appliance's manifest; entries are empty when ``known_version`` is already latest."""
        ...


class NoFill:
    """Null object: no appliance has a manifest. Stateless, so safe across tasks."""

    def version_for(self, appliance_id: str) -> int:
        return 0

    def manifest_for(self, appliance_id: str, known_version: int) -> Manifest:
        return Manifest(version=0)

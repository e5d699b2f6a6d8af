"""Ranking: client address + title -> site -> ordered appliances, the origin last."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .fleet import FleetView, Location
from .prefixes import IPAddress

APPLIANCE = "appliance"
ORIGIN = "origin"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One place a player may fetch the title from; ``base_url`` has no trailing slash."""

    kind: str  # APPLIANCE or ORIGIN
    base_url: str
    appliance: str | None
    site: str | None
    # "client-site", "other-site" or "origin": why it is in the list.
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    site: str
    site_reason: str  # "prefix": matched an advertised prefix; "default": the configured fallback
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True, slots=True)
class RankingPolicy:
    default_site: str = "default"
    # Appliance candidates at most (the origin is always added); 0: origin only.
    max_appliance_urls: int = 4
    origin_url: str = "http://127.0.0.1:8000"


DEFAULT_POLICY = RankingPolicy()


def choose(
    view: FleetView, client_ip: IPAddress | None, title: str, policy: RankingPolicy = DEFAULT_POLICY
) -> Decision:
    """Rank where ``client_ip`` should fetch ``title`` from. Pure and deterministic.

    The client's site is the one of the longest advertised prefix containing its address
    (``client_ip`` None: unknown address, the default site). Its healthy appliances come first in
    placement order (the same order the fill planner used), then healthy appliances of the other
    sites, nearest site first, interleaved by placement rank so the appliances most likely to hold
    the title come early; at most ``max_appliance_urls`` of them, then the origin. Appliances that
    are not HEALTHY are left out.
    """
    site = view.site_for(client_ip) if client_ip is not None else None
    reason = "prefix"
    if site is None:
        site, reason = policy.default_site, "default"
    ranked: list[Candidate] = []
    own = view.placement(site)
    if own is not None:
        ranked.extend(_candidate(view, ident, "client-site") for ident in own.rank(title))
    others = _other_sites_nearest_first(view, site)
    rankings = [p.rank(title) for s in others if (p := view.placement(s)) is not None]
    depth = max((len(r) for r in rankings), default=0)
    for i in range(depth):
        ranked.extend(_candidate(view, r[i], "other-site") for r in rankings if i < len(r))
    cap = max(policy.max_appliance_urls, 0)
    origin = Candidate(ORIGIN, policy.origin_url.rstrip("/"), None, None, ORIGIN)
    return Decision(site, reason, (*ranked[:cap], origin))


def _candidate(view: FleetView, appliance_id: str, reason: str) -> Candidate:
    a = view.appliance(appliance_id)
    return Candidate(APPLIANCE, a.url.rstrip("/"), a.id, a.site, reason)


def _other_sites_nearest_first(view: FleetView, site: str) -> list[str]:
    """Healthy sites other than ``site``: by distance when both locations are known, then by name."""
    here = view.site_location(site)

    def key(other: str) -> tuple[float, str]:
        there = view.site_location(other)
        if here is None or there is None:
            return (math.inf, other)
        return (_distance_km(here, there), other)

    return sorted((s for s in view.healthy_sites() if s != site), key=key)


def _distance_km(a: Location, b: Location) -> float:
    """Great-circle (haversine) distance."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))

"""Ranking: client address + title -> site -> ordered appliances, the origin last.

The load-independent part of an answer (a :class:`SitePlan`) depends only on (fleet version,
site, title) and is cached by :class:`Ranker`, so the hot path is a cache lookup, a short
bounded-load pass over the first candidates and the origin.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cachetools import LRUCache

from streamfleet.clientip import IPAddress

from .coverage import CoverageZones
from .fleet import FleetView, Health
from .geo import GeoLocator, distance_km
from .load import RecentAssignments, load_bound
from .localize import localize

APPLIANCE = "appliance"
ORIGIN = "origin"

# Why a candidate is in the list (its ``reason``).
REPLICA = "client-site:replica"  # in the client's site and holds the title
PLACEMENT = "client-site:placement"  # in the client's site, placement order, title not reported held
OVER_BOUND = "client-site:over-bound"  # pushed down: above the site's bounded load
FALLBACK_SITE = "fallback-site"  # a configured fallback site of the client's site
OTHER_SITE = "other-site"  # any other healthy site, nearest first
DEGRADED = "degraded"  # the client's site's degraded appliances, after every healthy one

CONTENT, HEALTH = "content", "health"  # miss kinds


@dataclass(frozen=True, slots=True)
class Candidate:
    """One place a player may fetch the title from; ``base_url`` has no trailing slash."""

    kind: str  # APPLIANCE or ORIGIN
    base_url: str
    appliance: str | None
    site: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Miss:
    """The viewer cannot use the best appliance of its site: ``kind`` CONTENT or HEALTH."""

    site: str
    kind: str


@dataclass(frozen=True, slots=True)
class Decision:
    site: str
    site_reason: str  # "prefix", "coverage", "geo", "fallback" or "default"
    candidates: tuple[Candidate, ...]
    miss: Miss | None = None


@dataclass(frozen=True, slots=True)
class RankingPolicy:
    default_site: str = "default"
    # Appliance candidates at most (the origin is always added); 0: origin only.
    max_appliance_urls: int = 4
    origin_url: str = "http://127.0.0.1:8000"
    # Bounded load: no appliance above factor x the site's average load goes first.
    load_balance_factor: float = 1.25
    # Below this load every appliance has room: a handful of viewers must not scatter a title
    # over the site's disks (with tiny counts the factor alone would bounce each new viewer).
    load_bound_floor: float = 8.0
    # site -> sites to try, in order, when the site has no healthy appliance.
    fallback_sites: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


DEFAULT_POLICY = RankingPolicy()


@dataclass(frozen=True, slots=True)
class SitePlan:
    """What a (fleet version, site, title) ranks to before load is considered. Immutable."""

    own: tuple[Candidate, ...]  # the site's HEALTHY appliances: replicas first, then the rest
    rest: tuple[Candidate, ...]  # fallback sites, other sites, then the site's degraded ones
    best: str | None  # placement's first in the site, ignoring health; None: empty site
    best_healthy: bool
    held: bool  # some appliance of the site reports holding the title


# Makes a candidate from (url, appliance id, site, reason); Ranker passes a memoised one.
CandidateFactory = Callable[[str, str, str, str], Candidate]


def plan_site(
    view: FleetView,
    site: str,
    title: str,
    policy: RankingPolicy = DEFAULT_POLICY,
    candidate: CandidateFactory | None = None,
) -> SitePlan:
    """The load-independent ranking of ``title`` for clients of ``site``. Pure."""
    make = candidate or _candidate
    own: list[Candidate] = []
    placement = view.placement(site)
    site_appliances = view.site_appliances(site)
    best: str | None = None
    if placement is not None:
        ranked = [view.appliance(i) for i in placement.rank(title)]
        # Replicas first keeps the placement order within each group (stable partition).
        own = [make(a.url, a.id, site, REPLICA) for a in ranked if title in a.titles]
        own += [make(a.url, a.id, site, PLACEMENT) for a in ranked if title not in a.titles]
        if len(ranked) == len(site_appliances):
            best = ranked[0].id  # everyone is healthy: no need to rank again ignoring health
    fallbacks = [s for s in policy.fallback_sites.get(site, ()) if s != site and view.has_healthy(s)]
    others = [s for s in _nearest_first(view, site) if s not in fallbacks]
    rest = _interleaved(view, fallbacks, title, FALLBACK_SITE, make)
    rest += _interleaved(view, others, title, OTHER_SITE, make)
    if own or rest:  # degraded never first
        for ident in view.degraded(site):
            rest.append(make(view.appliance(ident).url, ident, site, DEGRADED))
    if best is None and site_appliances:
        everyone = view.placement_ignoring_health(site)
        best = everyone.rank(title)[0] if everyone is not None else None
    held = any(title in a.titles for a in site_appliances)
    best_healthy = best is not None and view.appliance(best).health is Health.HEALTHY
    return SitePlan(tuple(own), tuple(rest), best, best_healthy, held)


def _candidate(url: str, ident: str, site: str, reason: str) -> Candidate:
    return Candidate(APPLIANCE, url.rstrip("/"), ident, site, reason)


def _interleaved(
    view: FleetView, sites: list[str], title: str, reason: str, make: CandidateFactory
) -> list[Candidate]:
    """Healthy appliances of ``sites`` by placement rank, round robin, so each site's likely holder
    comes early."""
    rankings = [(s, p.rank(title)) for s in sites if (p := view.placement(s)) is not None]
    out: list[Candidate] = []
    for i in range(max((len(r) for _, r in rankings), default=0)):
        for s, r in rankings:
            if i < len(r):
                out.append(make(view.appliance(r[i]).url, r[i], s, reason))
    return out


def _nearest_first(view: FleetView, site: str) -> list[str]:
    """Healthy sites other than ``site``: by distance when both locations are known, then by name."""
    here = view.site_location(site)

    def key(other: str) -> tuple[float, str]:
        there = view.site_location(other)
        if here is None or there is None:
            return (math.inf, other)
        return (distance_km(here, there), other)

    return sorted((s for s in view.healthy_sites() if s != site), key=key)


class Ranker:
    """Turns (fleet view, client, title) into a Decision: localization, the cached site plan,
    bounded load over heartbeat connections plus recent assignments, the miss kind.

    Records every answer's first appliance as an assignment. Use from one event loop only.
    """

    def __init__(
        self,
        policy: RankingPolicy = DEFAULT_POLICY,
        *,
        coverage: Callable[[], CoverageZones] | None = None,
        geo: GeoLocator | None = None,
        cache_size: int = 65_536,
        assignment_window: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._coverage = coverage
        self._geo = geo
        self._plans: LRUCache[tuple[int, str, str], SitePlan] = LRUCache(maxsize=cache_size)
        # Candidates are immutable: one per (appliance, site, reason) and fleet version is enough.
        self._candidates: dict[tuple[str, str, str], Candidate] = {}
        self._candidates_version = -1
        self.recent = RecentAssignments(assignment_window, clock)
        self._origin = Candidate(ORIGIN, policy.origin_url.rstrip("/"), None, None, ORIGIN)

    def plan(self, view: FleetView, site: str, title: str) -> SitePlan:
        """The site plan, from the cache when this fleet version already ranked it."""
        key = (view.version, site, title)
        plan = self._plans.get(key)
        if plan is None:
            if self._candidates_version != view.version:
                self._candidates, self._candidates_version = {}, view.version
            plan = self._plans[key] = plan_site(view, site, title, self.policy, self._memo_candidate)
        return plan

    def _memo_candidate(self, url: str, ident: str, site: str, reason: str) -> Candidate:
        key = (ident, site, reason)
        found = self._candidates.get(key)
        if found is None:
            found = self._candidates[key] = _candidate(url, ident, site, reason)
        return found

    def choose(self, view: FleetView, client: IPAddress | None, title: str) -> Decision:
        """Rank where ``client`` should fetch ``title`` from; the origin is always last."""
        policy = self.policy
        where = localize(
            view,
            client,
            default_site=policy.default_site,
            zones=self._coverage() if self._coverage is not None else None,
            geo=self._geo,
            fallback_sites=policy.fallback_sites,
        )
        site = where.site
        plan = self.plan(view, site, title)
        cap = max(policy.max_appliance_urls, 0)
        bound = math.inf
        if plan.own:
            total = view.site_connections(site) + self.recent.site(site)
            bound = max(load_bound(total, len(plan.own), policy.load_balance_factor), policy.load_bound_floor)
        candidates = (*self._pick(view, plan, bound, cap), self._origin)
        miss = None
        if where.home is not None and where.home != site:
            miss = Miss(where.home, HEALTH)  # the client's own site had nobody healthy
        elif plan.best is not None:
            if not plan.held:
                miss = Miss(site, CONTENT)
            elif not plan.best_healthy or self._load(view, plan.best) + 1.0 > bound:
                miss = Miss(site, HEALTH)
        first = candidates[0]  # recorded after the miss check, which must see the load before it
        if first.appliance is not None and first.site is not None:
            self.recent.record(first.appliance, first.site)
        return Decision(site, where.reason, candidates, miss)

    def _load(self, view: FleetView, appliance_id: str) -> float:
        return view.appliance(appliance_id).connections + self.recent.appliance(appliance_id)

    def _pick(self, view: FleetView, plan: SitePlan, bound: float, cap: int) -> list[Candidate]:
        """The first ``cap`` appliances: the site's under the load bound, then its over-bound ones
        (pushed down, order kept), then the rest of the plan. Looks no further than needed."""
        out: list[Candidate] = []
        over: list[Candidate] = []
        for c in plan.own:
            if len(out) >= cap:
                return out
            assert c.appliance is not None and c.site is not None
            if self._load(view, c.appliance) + 1.0 > bound:
                over.append(self._memo_candidate(c.base_url, c.appliance, c.site, OVER_BOUND))
            else:
                out.append(c)
        out += over
        out += plan.rest[: max(cap - len(out), 0)]
        return out[:cap]


def choose(
    view: FleetView, client_ip: IPAddress | None, title: str, policy: RankingPolicy = DEFAULT_POLICY
) -> Decision:
    """One-off ranking without caches or assignment history (tests, tools). Pure."""
    return Ranker(policy, cache_size=1).choose(view, client_ip, title)

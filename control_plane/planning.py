"""Fill planning: which titles each appliance of a site should hold, in which order. Pure and fast.

For one site:
1. Titles are ranked by predicted popularity (ties: title id), hottest first.
2. A title gets ``ceil(share * appliances / replica_load_share)`` replicas (1..appliances), so no
   replica carries more than ``replica_load_share`` of an appliance's fair share of the site's
   traffic: the head is on several appliances, the tail on one. Hysteresis keeps the previous
   count while the ideal one is within ``replica_hysteresis`` of it, so small drift moves nothing.
3. Hottest first, a title's replicas go to the first appliances of ``Placement.rank(title)`` (the
   function steering uses, weighted by capacity) that still have room for it; a full appliance is
   skipped for the next one in the ranking. A title that fits nowhere is left to the origin.
4. Each appliance's manifest lists its titles most valuable bytes first: by expected bytes served
   per byte stored, i.e. popularity / replicas.
5. The plan is compared with the previous one: bytes to add and to delete per appliance.

Minimal churn comes from two things. A title's ranking depends only on the title and the site's
appliances, so removing an appliance moves only its titles, and adding one moves only the titles
that rank it first (rendezvous hashing). And titles of the previous plan keep their room: when
popularity drifts, a title displaces a previously planned one only when it is more popular by
``displace_margin`` (see ``packing.py``), so noise in the tail's counts moves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from streamfleet.placement import Member, Placement, capacity_weight

from .catalog import CatalogTitle
from .packing import HeadCache, SitePacker, ranking_heads


@dataclass(frozen=True, slots=True)
class PlanAppliance:
    """An appliance taking part in planning (active, with a positive capacity)."""

    id: str
    capacity_bytes: int


@dataclass(frozen=True, slots=True)
class PlanPolicy:
    # A replica should carry at most this share of an appliance's fair share of site traffic.
    replica_load_share: float = 0.25
    # Keep the previous replica count while the ideal count is within this factor of it.
    replica_hysteresis: float = 0.5
    # A title displaces a previously planned one only when it is more popular by this factor,
    # so noise in the counts of similar titles moves nothing.
    displace_margin: float = 0.5
    # Share of each appliance's disk that fill may pin; the rest stays ordinary cache for misses
    # (a fully pinned disk could not take a single miss).
    fill_fraction: float = 0.8


@dataclass(frozen=True, slots=True)
class PlannedTitle:
    """One manifest line: ``bytes`` of ``title``; manifests list these most valuable first."""

    title: str
    bytes: int


@dataclass(frozen=True, slots=True)
class ApplianceChange:
    """What a new plan asks of an appliance compared with the previous plan."""

    bytes_planned: int = 0
    bytes_added: int = 0
    bytes_deleted: int = 0
    titles_added: int = 0
    titles_deleted: int = 0


@dataclass(frozen=True)
class SitePlan:
    site: str
    # appliance id -> its titles, most valuable first (every planned appliance has an entry).
    manifests: Mapping[str, tuple[PlannedTitle, ...]]
    # title -> appliances holding it, in the title's ranking order; unplaced titles are absent.
    replicas: Mapping[str, tuple[str, ...]]
    # Titles that fit on no appliance of the site (served from the origin).
    unplaced: tuple[str, ...]
    changes: Mapping[str, ApplianceChange]


@dataclass(frozen=True)
class FillPlan:
    sites: Mapping[str, SitePlan] = field(default_factory=dict)

    def changes(self) -> dict[str, ApplianceChange]:
        """Every appliance's change, across sites."""
        return {a: c for plan in self.sites.values() for a, c in plan.changes.items()}

    @property
    def bytes_added(self) -> int:
        return sum(c.bytes_added for c in self.changes().values())

    @property
    def bytes_deleted(self) -> int:
        return sum(c.bytes_deleted for c in self.changes().values())

    @property
    def bytes_planned(self) -> int:
        return sum(c.bytes_planned for c in self.changes().values())


# appliance id -> title -> bytes, as the previous plan had them.
PreviousPlan = Mapping[str, Mapping[str, int]]


def placement_for(appliances: Sequence[PlanAppliance]) -> Placement:
    """The placement steering computes for the same appliances (the kernel's capacity weight)."""
    return Placement(Member(a.id, capacity_weight(a.capacity_bytes)) for a in appliances)


def plan_fleet(
    sites: Mapping[str, Sequence[PlanAppliance]],
    titles: Sequence[CatalogTitle],
    popularity: Mapping[str, np.ndarray],
    previous: PreviousPlan,
    policy: PlanPolicy = PlanPolicy(),
    cache: HeadCache | None = None,
) -> FillPlan:
    """Plan every site. ``popularity[site]`` is aligned with ``titles`` (missing: all zero).

    Deterministic: the same inputs give the same plan, with or without ``cache`` (which only
    saves hashing between runs). Pure apart from the cache, so safe to run in a worker thread as
    long as one run at a time uses a given cache.
    """
    id_rank = _id_ranks(titles)
    plans = {}
    for site in sorted(sites):
        scores = popularity.get(site)
        if scores is None:
            scores = np.zeros(len(titles), dtype=np.float64)
        plans[site] = plan_site(site, sites[site], titles, scores, previous, policy, id_rank=id_rank,
                                cache=cache)
    if cache is not None:
        cache.retain(set(sites))
    return FillPlan(plans)


def plan_site(
    site: str,
    appliances: Sequence[PlanAppliance],
    titles: Sequence[CatalogTitle],
    scores: np.ndarray,
    previous: PreviousPlan,
    policy: PlanPolicy = PlanPolicy(),
    *,
    id_rank: np.ndarray | None = None,
    cache: HeadCache | None = None,
) -> SitePlan:
    """Plan one site (see the module docstring). Raises ValueError on misaligned scores or
    duplicate appliance ids. Appliances without capacity take no part."""
    if len(scores) != len(titles):
        raise ValueError("scores must be aligned with titles")
    members = sorted((a for a in appliances if a.capacity_bytes > 0), key=lambda a: a.id)
    if len({a.id for a in members}) != len(members):
        raise ValueError(f"site {site}: appliance ids must be unique")
    ids = [t.id for t in titles]
    sizes = [t.bytes for t in titles]
    if not members or not titles:
        return _finish(site, members, ids, sizes, scores, {}, previous)
    n = len(members)
    previous_holders = _previous_holders(ids, members, previous)
    held = np.fromiter((len(previous_holders.get(i, ())) for i in range(len(ids))), dtype=np.int64,
                       count=len(ids))
    counts = replica_counts(scores, n, policy, held)
    if id_rank is None:
        id_rank = _id_ranks(titles)
    # Hottest first; equal scores in title-id order, so the plan never depends on input order.
    order = np.lexsort((id_rank, -np.asarray(scores, dtype=np.float64))).tolist()
    # Placement orders its members by id too, so member indexes agree with ``members``.
    placement = placement_for(members)
    heads = cache.heads(site, placement, ids) if cache is not None else ranking_heads(placement, ids).tolist()
    budgets = [int(a.capacity_bytes * policy.fill_fraction) for a in members]
    packer = SitePacker(placement, budgets, ids, sizes,
                        np.asarray(scores, dtype=np.float64).tolist(), policy.displace_margin)
    chosen_by_title = packer.pack(order, counts.tolist(), previous_holders, heads)
    return _finish(site, members, ids, sizes, scores, chosen_by_title, previous)


def replica_counts(
    scores: np.ndarray, appliances: int, policy: PlanPolicy, previous: np.ndarray | None = None
) -> np.ndarray:
    """Replicas per title (1..appliances) from its share of the site's popularity.

    ``previous`` (aligned, 0 = not held before) is kept while it lies within the hysteresis band
    of the ideal count. All-zero scores give one replica each.
    """
    scores = np.asarray(scores, dtype=np.float64)
    total = float(scores.sum())
    ideal = scores * (appliances / policy.replica_load_share / total) if total > 0 else np.zeros_like(scores)
    counts = np.clip(np.ceil(ideal), 1, appliances).astype(np.int64)
    if previous is not None:
        h = 1.0 + policy.replica_hysteresis
        low = np.clip(np.ceil(ideal / h), 1, appliances)
        high = np.clip(np.ceil(ideal * h), 1, appliances)
        keep = (previous > 0) & (previous >= low) & (previous <= high)
        counts = np.where(keep, previous, counts)
    return counts


def _id_ranks(titles: Sequence[CatalogTitle]) -> np.ndarray:
    ranks = np.empty(len(titles), dtype=np.int64)
    ranks[sorted(range(len(titles)), key=lambda i: titles[i].id)] = np.arange(len(titles))
    return ranks


def _previous_holders(ids: list[str], members: list[PlanAppliance],
                      previous: PreviousPlan) -> dict[int, list[int]]:
    """Title index -> indexes of the members that held it in the previous plan."""
    position = {t: i for i, t in enumerate(ids)}
    holders: dict[int, list[int]] = {}
    for a, member in enumerate(members):
        for title in previous.get(member.id, ()):
            i = position.get(title)
            if i is not None:
                holders.setdefault(i, []).append(a)
    return holders


def _finish(
    site: str,
    members: list[PlanAppliance],
    ids: list[str],
    sizes: list[int],
    scores: np.ndarray,
    chosen_by_title: Mapping[int, list[int]],
    previous: PreviousPlan,
) -> SitePlan:
    """Manifests ordered by value, replica sets and the change against ``previous``."""
    per_appliance: list[list[int]] = [[] for _ in members]
    replicas: dict[str, tuple[str, ...]] = {}
    for i, chosen in chosen_by_title.items():
        replicas[ids[i]] = tuple(members[a].id for a in chosen)
        for a in chosen:
            per_appliance[a].append(i)
    value = [float(s) / max(1, len(chosen_by_title.get(i, ()))) for i, s in enumerate(scores.tolist())]
    manifests: dict[str, tuple[PlannedTitle, ...]] = {}
    changes: dict[str, ApplianceChange] = {}
    for a, appliance in enumerate(members):
        held = sorted(per_appliance[a], key=lambda i: (-value[i], ids[i]))
        entries = tuple(PlannedTitle(ids[i], sizes[i]) for i in held)
        manifests[appliance.id] = entries
        changes[appliance.id] = _change(entries, previous.get(appliance.id, {}))
    unplaced = tuple(sorted(ids[i] for i in range(len(ids)) if i not in chosen_by_title))
    return SitePlan(site, manifests, replicas, unplaced, changes)


def _change(entries: tuple[PlannedTitle, ...], before: Mapping[str, int]) -> ApplianceChange:
    now = {e.title: e.bytes for e in entries}
    added = [b for t, b in now.items() if t not in before]
    deleted = [b for t, b in before.items() if t not in now]
    return ApplianceChange(
        bytes_planned=sum(now.values()), bytes_added=sum(added), bytes_deleted=sum(deleted),
        titles_added=len(added), titles_deleted=len(deleted),
    )


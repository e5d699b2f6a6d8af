"""PeerDirectory: the appliances of this site and which of them should hold a title.

The ranking is the fleet's shared placement (:class:`streamfleet.placement.Placement`), so the
peer asked first for a miss is the one the fill planner filled and steering sends viewers to.
Members come from config (``peers``) until the control plane's fleet state arrives; then the
fleet state wins (it also says which peers are down).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from streamfleet.placement import Member, Placement

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SiteMember:
    """One appliance of a site as the fleet state describes it."""

    id: str
    site: str
    url: str
    # Placement weight (capacity); only ratios matter.
    weight: float = 1.0
    # False when the control plane has marked it down (it is then never asked).
    up: bool = True
    # Titles it reports holding (complete or partial), from its heartbeats.
    titles: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Peer:
    id: str
    url: str


class PeerDirectory:
    """Site peers and their placement. Replaced wholesale on update; safe across tasks."""

    def __init__(
        self,
        self_id: str,
        site: str,
        static: Mapping[str, str],
        max_candidates: int = 2,
        cooldown_s: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``cooldown_s``: a peer that failed (:meth:`suspend`) is not asked for this long."""
        self._self_id = self_id
        self._site = site
        self._max = max_candidates
        self._cooldown_s = cooldown_s
        self._monotonic = monotonic
        # Peer id -> monotonic() until which it is not asked (it timed out or refused us).
        self._suspended: dict[str, float] = {}
        self._members: dict[str, SiteMember] = {}
        self._placement = Placement([])
        # Fleet-state updates applied (0: still on the static config).
        self.updates = 0
        self._install(SiteMember(pid, site, url.rstrip("/")) for pid, url in static.items())

    def _install(self, members: Iterable[SiteMember]) -> None:
        chosen = {m.id: m for m in members if m.site == self._site}
        if self._self_id not in chosen:
            chosen[self._self_id] = SiteMember(self._self_id, self._site, "", 1.0)
        self._members = chosen
        self._placement = Placement(Member(m.id, m.weight) for m in chosen.values())

    def update_from_fleet(self, members: Iterable[SiteMember]) -> None:
        """Replace the members with the control plane's view (only this site's are kept)."""
        before = sorted(self._members)
        self._install(members)
        self.updates += 1
        if sorted(self._members) != before:
            log.info("site peers changed", extra={"site": self._site, "peers": sorted(self._members)})

    @property
    def member_ids(self) -> list[str]:
        return sorted(self._members)

    def suspend(self, peer_id: str) -> None:
        """Leave ``peer_id`` out of :meth:`candidates` and :meth:`holders` for ``cooldown_s``: it
        stalled or failed, and every miss waiting for it again would cost a timeout each."""
        if self._cooldown_s > 0:
            self._suspended[peer_id] = self._monotonic() + self._cooldown_s
            log.warning("site peer failed; not asking it for a while",
                        extra={"peer": peer_id, "seconds": self._cooldown_s})

    def _usable(self, member: SiteMember) -> bool:
        if not (member.up and member.url):
            return False
        until = self._suspended.get(member.id)
        if until is None:
            return True
        if self._monotonic() < until:
            return False
        del self._suspended[member.id]
        return True

    def candidates(self, title: str) -> list[Peer]:
        """Peers to ask for ``title`` before the origin, best first.

        Only peers placement ranks ahead of this appliance qualify (if this appliance ranks
        first, the title was placed here and no peer is expected to hold it); down peers and
        peers without a URL are skipped. At most ``max_candidates``; empty means "origin".
        """
        out: list[Peer] = []
        for member_id in self._placement.rank(title):
            if member_id == self._self_id or len(out) >= self._max:
                break
            member = self._members[member_id]
            if self._usable(member):
                out.append(Peer(member.id, member.url))
        return out

    def holders(self, title: str) -> list[Peer]:
        """Site peers that report holding ``title`` (some of its chunks at least), in placement
        order: where the fill asks first, before the origin. Down peers are skipped; at most
        ``max_candidates``; empty means "origin"."""
        out: list[Peer] = []
        for member_id in self._placement.rank(title):
            member = self._members[member_id]
            if member_id != self._self_id and title in member.titles and self._usable(member):
                out.append(Peer(member.id, member.url))
                if len(out) >= self._max:
                    break
        return out

"""Fault 7: a site peer that accepts the connection and then says nothing.

The miss falls through to the origin once ``peer_timeout_s`` passes, and the stalled peer is
left alone for ``peer_cooldown_s`` so the next misses do not wait for it again.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streamfleet.addressing import make_key, segment_name
from streamfleet.placement import Member, Placement

from .procs import SoloAppliance
from .standins import SilentPeer, StandInOrigin, make_title, sign

pytestmark = pytest.mark.e2e

PEER_TIMEOUT_S = 1.0


def title_placed_on(peer: str, me: str) -> str:
    """A title id whose placement ranks ``peer`` ahead of ``me`` (so ``me`` asks ``peer`` first)."""
    ranking = Placement([Member(peer, 1.0), Member(me, 1.0)])
    return next(t for t in (f"stalled-{n}" for n in range(100)) if ranking.rank(t)[0] == peer)


def test_stalled_peer_falls_through_to_the_origin_within_the_timeout(tmp_path: Path) -> None:
    title = title_placed_on("stuck-peer", "solo-1")
    files = make_title(title)
    with StandInOrigin({title: files}) as origin, SilentPeer() as peer:
        appliance = SoloAppliance(
            tmp_path, origin.url, peers={"stuck-peer": peer.url}, peer_timeout_s=PEER_TIMEOUT_S
        )
        with appliance:
            key = make_key(title, "480p", segment_name(0))
            started = time.monotonic()
            response = appliance.get(key, sign(title))
            seconds = time.monotonic() - started
            assert response.status_code == 200 and response.content == files[key.cache_key]
            assert PEER_TIMEOUT_S * 0.9 < seconds < PEER_TIMEOUT_S + 1.0, seconds
            assert peer.accepted == 1 and origin.chunk_requests[key.cache_key] == 1
            outcome = appliance.metric(
                "streamfleet_appliance_upstream_attempt_seconds_count", upstream="peer", outcome="timeout"
            )
            assert outcome == 1

            # The next misses skip the stalled peer while it cools down.
            for n in (1, 2, 3):
                key = make_key(title, "480p", segment_name(n))
                started = time.monotonic()
                response = appliance.get(key, sign(title))
                assert response.status_code == 200 and response.content == files[key.cache_key]
                assert time.monotonic() - started < PEER_TIMEOUT_S / 2
            assert peer.accepted == 1

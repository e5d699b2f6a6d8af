"""PeerDirectory: a peer that stalled or failed is left out of the upstream order for a while."""

from __future__ import annotations

from appliance.peers import PeerDirectory, SiteMember
from streamfleet.placement import Member, Placement


class Ticker:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_suspended_peers_are_skipped_until_the_cooldown_ends() -> None:
    ids = ["a", "b", "c", "d"]
    order = Placement(Member(i) for i in ids).rank("film")
    ticker = Ticker()
    me = order[-1]
    peers = PeerDirectory(me, "east", {i: f"http://{i}:1" for i in ids}, cooldown_s=5.0, monotonic=ticker)
    assert [p.id for p in peers.candidates("film")] == order[:2]
    peers.suspend(order[0])
    assert [p.id for p in peers.candidates("film")] == order[1:3]
    peers.update_from_fleet([SiteMember(i, "east", f"http://{i}:2", titles=frozenset({"film"})) for i in ids])
    assert [p.id for p in peers.holders("film")] == order[1:3]  # survives a fleet update
    ticker.now += 5.0
    assert [p.id for p in peers.candidates("film")] == order[:2]


def test_no_cooldown_means_always_ask() -> None:
    peers = PeerDirectory("me", "east", {"a": "http://a:1"})
    peers.suspend("a")
    ranked_first = [t for t in ("t1", "t2", "t3", "t4", "t5") if Placement(
        [Member("a"), Member("me")]).rank(t)[0] == "a"]
    assert all(peers.candidates(t)[0].id == "a" for t in ranked_first)

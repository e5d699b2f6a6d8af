"""Real-time pacing: fetch ahead only up to the buffer target, wait as playback consumes it, stop."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from player.buffer import PlaybackBuffer
from player.session import Pacing, PlayReport, play
from player.sources import Fetched

from .standins import ContentServer
from .test_session import STEERING, TITLE, Link, fleet

pytestmark = pytest.mark.anyio

A = "http://a.test:81"


async def paced(link: Link, pacing: Pacing, **kwargs: object) -> tuple[PlayReport, list[float]]:
    hosts = fleet((A, "east-1"))
    hosts["a.test:81"] = ContentServer("east-1", TITLE)
    fetched_at: list[float] = []

    def hook(i: int, fetched: Fetched) -> None:
        fetched_at.append(link.now)

    async with httpx.AsyncClient(transport=link.transport(hosts)) as client:
        report = await play(
            STEERING, TITLE.title, client=client, clock=link.clock, pacing=pacing, on_segment=hook,
            **kwargs,  # type: ignore[arg-type]
        )
    return report, fetched_at


def fake_sleep(link: Link) -> Pacing:
    async def sleep(seconds: float) -> None:
        link.now += seconds

    return Pacing(buffer_target_s=8.0, sleep=sleep)


async def test_fetches_ahead_only_up_to_the_buffer_target_then_plays_out() -> None:
    link = Link(bps=1e9, latency=0.0)
    pacing = fake_sleep(link)
    report, at = await paced(link, Pacing(8.0, play_out=True, sleep=pacing.sleep))
    assert report.ok and report.segments == 4 and report.stalls == 0
    # 4 s segments, target 8 s: the second comes at once, then one every 4 s of playback.
    start = at[0]
    assert [t - start for t in at] == pytest.approx([0.0, 0.0, 4.0, 8.0], abs=0.01)
    # play_out: the viewer stays until the last segment has played.
    assert report.played_s == pytest.approx(16.0)
    assert link.now - start == pytest.approx(16.0, abs=0.01)


async def test_speed_scales_the_waits() -> None:
    link = Link(bps=1e9, latency=0.0)

    async def sleep(seconds: float) -> None:
        link.now += seconds

    report, at = await paced(link, Pacing(8.0, speed=4.0, sleep=sleep))
    assert report.ok
    assert [t - at[0] for t in at] == pytest.approx([0.0, 0.0, 1.0, 2.0], abs=0.01)


async def test_stop_ends_the_playback_early_and_ok() -> None:
    stop = asyncio.Event()
    link = Link(bps=1e9, latency=0.0)
    hosts = fleet((A, "east-1"))
    hosts["a.test:81"] = ContentServer("east-1", TITLE)

    def hook(i: int, fetched: Fetched) -> None:
        if i == 1:
            stop.set()

    async with httpx.AsyncClient(transport=link.transport(hosts)) as client:
        report = await play(STEERING, TITLE.title, client=client, clock=link.clock,
                            pacing=Pacing(8.0, speed=1000.0), stop=stop, on_segment=hook)
    assert report.stopped and report.ok
    assert report.segments == 2 and report.segments_total == 4
    assert report.bytes_by_appliance == {"east-1": report.bytes}


def test_buffer_speed_and_wait() -> None:
    b = PlaybackBuffer(speed=2.0)
    b.add(0.0, 4.0)
    assert b.level(1.0) == pytest.approx(2.0)
    assert b.wait_for_level(0.0, 2.0) == pytest.approx(1.0)
    assert b.add(3.0, 4.0) == pytest.approx(1.0)  # ran dry at t=2 (4 s of media at 2x)
    assert b.played(3.0) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        PlaybackBuffer(speed=0)

"""FleetFeed: snapshot at once, newer versions after, latest-only for slow watchers, cleanup."""

from __future__ import annotations

import asyncio
import contextlib

from control_plane.feed import FleetFeed
from control_plane.model import FleetState


def state(version: int) -> FleetState:
    return FleetState(version=version, appliances=(), generated_unix_ms=version)


def test_snapshot_first_then_each_new_version() -> None:
    async def scenario() -> list[int]:
        feed = FleetFeed(state(1))
        seen: list[int] = []

        async def watch() -> None:
            async with contextlib.aclosing(feed.subscribe()) as states:
                async for s in states:
                    seen.append(s.version)

        task = asyncio.create_task(watch())
        await asyncio.sleep(0)
        for v in (2, 3):
            feed.publish(state(v))
            await asyncio.sleep(0)
        feed.publish(state(3))  # same version again: ignored
        feed.publish(state(2))  # older: ignored
        await asyncio.sleep(0)
        feed.close()
        await asyncio.wait_for(task, 1)
        return seen

    assert asyncio.run(scenario()) == [1, 2, 3]


def test_slow_watcher_gets_only_the_latest() -> None:
    async def scenario() -> list[int]:
        feed = FleetFeed(state(1))
        states = feed.subscribe()
        first = await anext(states)
        for v in range(2, 50):
            feed.publish(state(v))
        second = await anext(states)
        await states.aclose()
        return [first.version, second.version]

    assert asyncio.run(scenario()) == [1, 49]


def test_several_watchers_and_cleanup_on_cancel() -> None:
    async def scenario() -> tuple[int, int, list[int], list[int]]:
        feed = FleetFeed(state(1))
        got: list[list[int]] = [[], []]

        async def watch(i: int) -> None:
            async with contextlib.aclosing(feed.subscribe()) as states:
                async for s in states:
                    got[i].append(s.version)

        tasks = [asyncio.create_task(watch(i)) for i in range(2)]
        await asyncio.sleep(0.01)
        during = feed.watcher_count
        feed.publish(state(7))
        await asyncio.sleep(0.01)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return during, feed.watcher_count, got[0], got[1]

    during, after, first, second = asyncio.run(scenario())
    assert (during, after) == (2, 0)
    assert first == second == [1, 7]


def test_closed_feed_delivers_latest_then_ends() -> None:
    async def scenario() -> list[int]:
        feed = FleetFeed(state(4))
        feed.close()
        return [s.version async for s in feed.subscribe()]

    assert asyncio.run(scenario()) == [4]

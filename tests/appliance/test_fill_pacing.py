"""The fill never starves viewers: it keeps to the window's rate and pauses under viewer load.

The catalog and the fetch are fakes (no network), the clock is fake, the store is real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

from appliance.catalog import FileInfo
from appliance.fill import FillEntry, FillManifest, FillWindow
from appliance.fill_agent import FillAgent
from appliance.peers import Peer
from appliance.store import ChunkStore
from streamfleet.addressing import ChunkKey, make_key, master_key, segment_name

from .test_fill_agent import FakeManifests, until

CHUNK = 1_000_000


def title_files(title: str, segments: int) -> dict[str, FileInfo]:
    files = {master_key(title).cache_key: FileInfo(CHUNK, "0" * 64)}
    for n in range(segments):
        files[make_key(title, "480p", segment_name(n)).cache_key] = FileInfo(CHUNK, "1" * 64)
    return files


class FakeTime:
    """Monotonic clock and sleep for the agent: sleeping advances the clock (and yields)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class Recorder:
    """The fetch: records (key, holders, connections at the time) and stores nothing."""

    def __init__(self, load: list[int]) -> None:
        self.load = load
        self.fetched: list[tuple[ChunkKey, Sequence[Peer], int, float]] = []
        self.time: FakeTime | None = None

    async def fetch(self, key: ChunkKey, holders: Sequence[Peer]) -> str:
        self.fetched.append((key, holders, self.load[0], self.time.now if self.time else 0.0))
        return "peer" if holders else "origin"


def agent(tmp_path: Path, rate_bits: int, recorder: Recorder, time: FakeTime, **options: object) -> FillAgent:
    files = {"film": title_files("film", 9), "show": title_files("show", 4)}

    async def lookup(title: str) -> Mapping[str, FileInfo]:
        return files[title]

    store = ChunkStore(tmp_path, 10**9)
    store.open()
    manifest = FillManifest(4, (FillEntry("film", 0, 10 * CHUNK), FillEntry("show", 1, 5 * CHUNK)),
                            FillWindow(rate_bits_per_second=rate_bits))
    recorder.time = time
    return FillAgent(
        store=store, manifests=FakeManifests(manifest), files=lookup, fetch=recorder.fetch,
        holders=lambda title: [Peer("east-2", "http://east-2")] if title == "show" else [],
        load=lambda: recorder.load[0], state_path=tmp_path / "fill_state.json",
        monotonic=time, sleep=time.sleep, poll_s=0.2, retry_s=0.2, **options,  # type: ignore[arg-type]
    )


def test_fill_keeps_to_the_window_rate_and_asks_holders_first(tmp_path: Path) -> None:
    recorder, time = Recorder([0]), FakeTime()

    async def main() -> FillAgent:
        fill = agent(tmp_path, 8 * CHUNK, recorder, time)  # 1 chunk per second
        fill.start()
        await until(lambda: fill.stats.state == "complete")
        await fill.stop()
        return fill

    fill = asyncio.run(main())
    assert len(recorder.fetched) == 15
    # Most valuable title first, each in fill order; show comes from the peer holding it.
    assert [k.title for k, *_ in recorder.fetched] == ["film"] * 10 + ["show"] * 5
    assert all(holders == [Peer("east-2", "http://east-2")] for k, holders, *_ in recorder.fetched
               if k.title == "show")
    # 15 chunks at 1 chunk/s, starting from an empty bucket: 15 s of (fake) waiting, evenly spread.
    assert sum(time.slept) == 15.0
    times = [at for *_, at in recorder.fetched]
    assert all(b - a <= 1.0 + 1e-9 for a, b in zip(times, times[1:], strict=False))
    assert fill.stats.chunks["origin"] == 10 and fill.stats.chunks["peer"] == 5
    assert fill.stats.bytes_filled == 15 * CHUNK == fill.stats.bytes_done == fill.stats.bytes_total


def test_fill_pauses_while_viewers_keep_many_connections_open(tmp_path: Path) -> None:
    recorder, time = Recorder([500]), FakeTime()  # viewers are busy when the fill starts

    async def main() -> FillAgent:
        fill = agent(tmp_path, 0, recorder, time, yield_connections=100, pause_s=0.5)
        fill.start()
        await until(lambda: fill.stats.state == "paused")
        await until(lambda: len(time.slept) >= 5)
        assert recorder.fetched == [], "nothing is fetched while viewers load the appliance"
        recorder.load[0] = 20
        await until(lambda: fill.stats.state == "complete")
        await fill.stop()
        return fill

    asyncio.run(main())
    assert len(recorder.fetched) == 15
    assert all(connections <= 100 for _, _, connections, _ in recorder.fetched)
    assert set(time.slept) == {0.5}, "no rate limit: the only waits were the pauses"

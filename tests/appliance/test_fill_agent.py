"""FillAgent over a real store, catalog and miss path against a stand-in origin (real HTTP).

The control plane is a fake ManifestClient: these tests are about what the appliance does with
a manifest (fetch, pin, resume, wait for the window, follow changes), not about gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import generate_latest

from appliance.config import ApplianceConfig
from appliance.core import Appliance
from appliance.errors import FillError
from appliance.fill import FillEntry, FillManifest, FillWindow, load_state
from appliance.fill_agent import FillAgent
from appliance.peers import Peer, PeerDirectory, SiteMember
from streamfleet.addressing import ChunkKey, master_key, parse_key

from .support import ServerThread, StandInOrigin, appliance_config, make_title, running_appliance, url_of


class FakeManifests:
    """The control plane's GetFillManifest: the current manifest, or unreachable."""

    def __init__(self, manifest: FillManifest | None = None, reachable: bool = True) -> None:
        self.manifest = manifest
        self.reachable = reachable
        self.asked: list[int] = []

    async def fetch(self, known_version: int) -> FillManifest | None:
        self.asked.append(known_version)
        if not self.reachable:
            raise FillError("control plane unreachable")
        if self.manifest is None or self.manifest.version == known_version:
            return None
        return self.manifest

    async def close(self) -> None:
        return None


def manifest(version: int, *titles: str, window: FillWindow | None = None) -> FillManifest:
    entries = tuple(FillEntry(t, p, 0) for p, t in enumerate(titles))
    return FillManifest(version, entries, window or FillWindow())


def keys_of(origin: StandInOrigin, title: str) -> list[ChunkKey]:
    return [parse_key(k) for k in origin.titles[title]]


def bytes_of(origin: StandInOrigin, title: str) -> int:
    return sum(len(v) for v in origin.titles[title].values())


@contextlib.contextmanager
def origin_server(origin: StandInOrigin) -> Iterator[str]:
    with ServerThread(origin.app()) as server:
        yield server.url


@contextlib.asynccontextmanager
async def appliance_with_fill(
    config: ApplianceConfig, manifests: FakeManifests, **options: Any
) -> AsyncIterator[tuple[Appliance, FillAgent]]:
    """A started appliance (no control-plane agent) and a running fill agent wired like core.py."""
    appliance = Appliance(config, run_agent=False)
    await appliance.start()
    fetcher = appliance.fetcher
    defaults: dict[str, Any] = {"poll_s": 0.2, "retry_s": 0.2, "progress_log_s": 0.05,
                                "holders": appliance.peers.holders}
    agent = FillAgent(
        store=appliance.store, manifests=manifests, files=fetcher.catalog.files,
        fetch=lambda key, holders: fetcher.fill(key, holders=holders),
        state_path=config.data_dir / "fill_state.json", stats=appliance.fill_stats, **{**defaults, **options},
    )
    agent.start()
    try:
        yield appliance, agent
    finally:
        await agent.stop()
        await appliance.stop()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_fill_fetches_every_file_once_pins_it_and_reports_progress(tmp_path: Path) -> None:
    origin = StandInOrigin(titles={"film": make_title("film", segments=5)}, delay_s=0.2)
    total = bytes_of(origin, "film")

    async def main(url: str) -> None:
        config = appliance_config(tmp_path / "a", url)
        async with appliance_with_fill(config, FakeManifests(manifest(3, "film"))) as (appliance, agent):
            # A viewer misses the master playlist just as the fill starts: one origin fetch.
            viewer = asyncio.create_task(appliance.obtain(master_key("film")))
            await until(lambda: appliance.fill_stats.state == "complete")
            appliance.store.unpin((await viewer).chunk.key)
            stats, store = appliance.fill_stats, appliance.store
            assert all(key in store and store.fill_pinned(key) for key in keys_of(origin, "film"))
            assert (stats.version, stats.bytes_done, stats.bytes_total) == (3, total, total)
            assert stats.chunks["origin"] + stats.chunks["present"] == len(origin.titles["film"])
            assert store.fill_pinned_bytes == total
            report = await appliance.report()
            assert (report.fill_version, report.fill_bytes_done, report.fill_bytes_total) == (3, total, total)
            metrics = generate_latest(appliance.metrics.registry).decode()
            assert f"streamfleet_appliance_fill_pinned_bytes {float(total)}" in metrics
            assert 'streamfleet_appliance_fill_chunks_total{result="origin"}' in metrics
            assert "streamfleet_appliance_fill_bytes_total" in metrics
            saved = load_state(config.data_dir / "fill_state.json")
            assert saved is not None and saved.version == 3 and saved.titles == {"film"}

    with origin_server(origin) as url:
        asyncio.run(main(url))
    assert set(origin.chunk_requests.values()) == {1}, "fill and viewer never fetch a chunk twice"
    assert len(origin.chunk_requests) == len(origin.titles["film"])


def test_a_restart_mid_fill_resumes_without_refetching_what_is_on_disk(tmp_path: Path) -> None:
    origin = StandInOrigin(titles={"film": make_title("film", segments=14)}, delay_s=0.1)
    config = appliance_config(tmp_path / "a", "http://127.0.0.1:9")
    before: set[ChunkKey] = set()

    async def first_run(url: str) -> None:
        async with appliance_with_fill(replace(config, origin_url=url), FakeManifests(manifest(5, "film")),
                                       concurrency=1) as (appliance, _):
            await until(lambda: len(appliance.store) >= 5)
            before.update(k for k in keys_of(origin, "film") if k in appliance.store)
            assert appliance.fill_stats.state == "filling"
        # Leaving cancels the fetch in flight: what a crash does, minus the temp file, so add one.
        (config.data_dir / "tmp" / "crashed.part").write_bytes(b"half a chunk")

    async def second_run(url: str) -> None:
        # The control plane is unreachable: the state file alone says what to hold.
        manifests = FakeManifests(reachable=False)
        async with appliance_with_fill(replace(config, origin_url=url), manifests) as (appliance, agent):
            assert agent.known_version == 5 and appliance.store.fill_pinned(master_key("film"))
            await until(lambda: appliance.fill_stats.state == "complete")
            assert appliance.fill_stats.chunks["present"] >= len(before)
            assert appliance.fill_stats.bytes_done == bytes_of(origin, "film")
            assert manifests.asked and set(manifests.asked) == {5}

    with origin_server(origin) as url:
        asyncio.run(first_run(url))
        assert 5 <= len(before) < len(origin.titles["film"])
        asyncio.run(second_run(url))
    assert all(origin.chunk_requests[k.cache_key] == 1 for k in before), "no verified chunk was refetched"
    assert set(origin.chunk_requests) == set(origin.titles["film"])
    assert sum(origin.chunk_requests.values()) <= len(origin.titles["film"]) + 1  # + the one cut off
    assert not (config.data_dir / "tmp" / "crashed.part").exists()


def test_fill_waits_for_its_window_and_run_now_starts_it(tmp_path: Path) -> None:
    origin = StandInOrigin(titles={"film": make_title("film")})
    noon = dt.datetime(2025, 1, 15, 12, 0, tzinfo=dt.UTC).timestamp()
    night = FillWindow("02:00", "06:00", "Europe/Paris", 0)

    async def main(url: str) -> None:
        manifests = FakeManifests(manifest(1, "film", window=night))
        config = appliance_config(tmp_path / "a", url)
        async with appliance_with_fill(config, manifests, clock=lambda: noon) as (appliance, agent):
            await until(lambda: appliance.fill_stats.state == "waiting")
            await asyncio.sleep(0.3)
            assert origin.chunk_requests == {}, "nothing is fetched outside the window"
            # The store was surveyed, so progress is known while waiting.
            assert appliance.fill_stats.bytes_total == bytes_of(origin, "film")
            assert appliance.fill_stats.bytes_done == 0
            manifests.manifest = manifest(2, "film", window=replace(night, run_now_until=int(noon) + 3600))
            agent.notify_version(2)
            await until(lambda: appliance.fill_stats.state == "complete")
            assert appliance.fill_stats.version == 2

    with origin_server(origin) as url:
        asyncio.run(main(url))
    assert len(origin.chunk_requests) == len(origin.titles["film"])


def test_fill_stops_when_its_window_closes(tmp_path: Path) -> None:
    origin = StandInOrigin(titles={"film": make_title("film", segments=20)}, delay_s=0.05)
    now = [dt.datetime(2025, 1, 15, 2, 0, tzinfo=dt.UTC).timestamp()]  # 03:00 in Paris
    night = FillWindow("02:00", "06:00", "Europe/Paris", 0)

    async def main(url: str) -> None:
        config = appliance_config(tmp_path / "a", url)
        async with appliance_with_fill(config, FakeManifests(manifest(1, "film", window=night)),
                                       clock=lambda: now[0], concurrency=1) as (appliance, _):
            await until(lambda: len(appliance.store) >= 3)
            now[0] += 4 * 3600  # 07:00 in Paris
            await until(lambda: appliance.fill_stats.state == "waiting")
            fetched = sum(origin.chunk_requests.values())
            await asyncio.sleep(0.4)
            assert sum(origin.chunk_requests.values()) == fetched < len(origin.titles["film"])

    with origin_server(origin) as url:
        asyncio.run(main(url))


def test_a_new_manifest_unpins_the_titles_it_dropped(tmp_path: Path) -> None:
    origin = StandInOrigin(titles={"film": make_title("film"), "show": make_title("show", segments=2)})

    async def main(url: str) -> None:
        manifests = FakeManifests(manifest(1, "film"))
        config = appliance_config(tmp_path / "a", url)
        async with appliance_with_fill(config, manifests) as (appliance, agent):
            store = appliance.store
            await until(lambda: appliance.fill_stats.state == "complete")
            manifests.manifest = manifest(2, "show")
            agent.notify_version(2)
            stats = appliance.fill_stats
            await until(lambda: stats.version == 2 and stats.state == "complete")
            assert all(not store.fill_pinned(k) and k in store for k in keys_of(origin, "film"))
            assert all(store.fill_pinned(k) and k in store for k in keys_of(origin, "show"))
            assert store.fill_pinned_bytes == bytes_of(origin, "show") == appliance.fill_stats.bytes_total

    with origin_server(origin) as url:
        asyncio.run(main(url))


def test_fill_takes_chunks_from_a_site_peer_holding_the_title_else_the_origin(tmp_path: Path) -> None:
    origin = StandInOrigin(titles={"film": make_title("film", segments=3), "show": make_title("show", 2)})
    film = keys_of(origin, "film")

    async def main(url: str, peer_url: str) -> None:
        # The fleet state says peer-1 holds film (it does, all but one chunk); nobody holds show.
        directory = PeerDirectory("b", "test", {})
        directory.update_from_fleet([
            SiteMember("peer-1", "test", peer_url, titles=frozenset({"film"})),
            SiteMember("down", "test", "http://127.0.0.1:9", up=False, titles=frozenset({"film"})),
        ])
        assert directory.holders("film") == [Peer("peer-1", peer_url)] and directory.holders("show") == []
        config = appliance_config(tmp_path / "b", url)
        async with appliance_with_fill(config, FakeManifests(manifest(1, "film", "show")),
                                       holders=directory.holders) as (b, _):
            await until(lambda: b.fill_stats.state == "complete")
            assert b.fill_stats.chunks["peer"] == len(film) - 1
            assert b.fill_stats.chunks["origin"] == len(origin.titles["show"]) + 1

    with origin_server(origin) as url:
        peer_config = replace(appliance_config(tmp_path / "peer", url), id="peer-1", fill_enabled=False)
        with running_appliance(peer_config) as peer_url:
            for key in film[:-1]:  # viewers watched film there
                assert httpx.get(url_of(peer_url, key)).status_code == 200
            asyncio.run(main(url, peer_url))
            # The peer was asked for the chunk it lacks "only if cached": it did not fetch it.
            assert httpx.get(url_of(peer_url, film[-1]), headers={"cache-control": "only-if-cached"}
                             ).status_code == 504
    assert all(origin.chunk_requests[k.cache_key] == 1 for k in film), "one origin fetch per chunk"

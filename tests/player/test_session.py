"""play() against stand-in steering and appliances behind httpx.MockTransport, on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from player.session import AbrPolicy, PlayReport, play

from .standins import ContentServer, FakeTitle, SteeringStandIn, make_title, mock_network

pytestmark = pytest.mark.anyio

STEERING = "http://steering:8080"
A, B, ORIGIN = "http://a.test:81", "http://b.test:82", "http://origin.test:8000"
TITLE = make_title()


class Link:
    """A fake clock and a link: ``latency`` seconds before the first byte, then ``bps`` bits per second."""

    def __init__(self, bps: float = 1e9, latency: float = 0.001) -> None:
        self.now = 100.0
        self.bps = bps
        self.latency = latency

    def clock(self) -> float:
        return self.now

    def transport(self, hosts: dict[str, ContentServer | SteeringStandIn]) -> httpx.MockTransport:
        network = mock_network(hosts)

        async def handle(request: httpx.Request) -> httpx.Response:
            response = network(request)
            if request.url.host == "steering":
                return response  # only content travels over the modelled link
            self.now += self.latency
            return httpx.Response(
                response.status_code, headers=response.headers, stream=_Timed(self, response.content)
            )

        return httpx.MockTransport(handle)


class _Timed(httpx.AsyncByteStream):
    def __init__(self, link: Link, body: bytes) -> None:
        self.link = link
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.link.now += len(self.body) * 8 / self.link.bps
        yield self.body


async def run(
    hosts: dict[str, ContentServer | SteeringStandIn], link: Link | None = None, **kwargs: object
) -> PlayReport:
    link = link or Link()
    async with httpx.AsyncClient(transport=link.transport(hosts)) as client:
        return await play(STEERING, TITLE.title, client=client, clock=link.clock, **kwargs)  # type: ignore[arg-type]


def fleet(
    *bases: tuple[str, str | None], **servers: ContentServer
) -> dict[str, ContentServer | SteeringStandIn]:
    hosts: dict[str, ContentServer | SteeringStandIn] = {"steering:8080": SteeringStandIn(list(bases))}
    for host, server in servers.items():
        hosts[host] = server
    return hosts


async def test_plays_every_segment_and_counts_misses_then_hits() -> None:
    app = ContentServer("east-1", TITLE)
    origin = ContentServer(None, TITLE)
    hosts = fleet((A, "east-1"), (ORIGIN, None))
    hosts.update({"a.test:81": app, "origin.test:8000": origin})

    first = await run(hosts, origin_url=ORIGIN)
    assert first.ok, first.errors
    assert (first.site, first.site_reason, first.ranked) == ("east", "prefix", ["east-1", "origin"])
    # 5 Mbit/s x 0.8 fits 480p first; the fast link keeps it there.
    assert (first.renditions, first.rendition) == (["480p"], "480p")
    assert (first.segments, first.segments_total) == (4, 4)
    assert first.segments_by_appliance == {"east-1": 4}
    # master + media playlist + init + 4 segments
    assert first.requests_by_appliance == {"east-1": 7}
    assert (first.hits, first.misses, first.hit_ratio) == (0, 7, 0.0)
    expected_bytes = sum(len(d) for k, d in TITLE.files.items() if "240p" not in k)
    assert first.bytes == expected_bytes
    assert first.bytes_verified is True
    assert first.stalls == 0 and first.failovers == 0 and first.errors == []
    assert first.media_s == 16.0
    assert first.startup_ms > 0

    requests_first = list(app.requests)
    second = await run(hosts, origin_url=ORIGIN)
    assert second.ok
    assert (second.hits, second.misses, second.hit_ratio) == (7, 0, 1.0)
    # Same title, same fast link: exactly the same files.
    assert app.requests[len(requests_first) :] == requests_first
    assert origin.requests == []


async def test_report_serialises() -> None:
    hosts = fleet((A, "east-1"))
    hosts["a.test:81"] = ContentServer("east-1", TITLE)
    report = await run(hosts)
    data = report.to_dict()
    assert data["ok"] is True and data["bytes_verified"] is None
    assert set(data) >= {
        "title", "site", "rendition", "renditions", "startup_ms", "bytes", "segments",
        "segments_by_appliance", "requests_by_appliance", "hits", "misses", "hit_ratio", "stalls",
        "stall_ms", "failovers", "bytes_verified", "errors", "ok",
    }  # fmt: skip


async def test_dead_first_url_fails_over_once_and_remembers() -> None:
    hosts = fleet(("http://dead.test:1", "east-1"), (B, "east-2"), (ORIGIN, None))
    hosts["b.test:82"] = ContentServer("east-2", TITLE)
    report = await run(hosts)
    assert report.ok, report.errors
    assert report.failovers == 1
    assert report.segments_by_appliance == {"east-2": 4}
    assert len(report.errors) == 1 and "east-1" in report.errors[0] and "ConnectError" in report.errors[0]


async def test_500_mid_title_moves_the_rest_to_the_next_url() -> None:
    first = ContentServer("east-1", TITLE, fail_after=5)
    second = ContentServer("east-2", TITLE)
    hosts = fleet((A, "east-1"), (B, "east-2"))
    hosts.update({"a.test:81": first, "b.test:82": second})
    report = await run(hosts)
    assert report.ok, report.errors
    # master, playlist, init, seg 0, seg 1 from east-1; then it fails and east-2 serves the rest.
    assert report.segments_by_appliance == {"east-1": 2, "east-2": 2}
    assert report.failovers == 1
    assert report.errors == ["GET 480p/seg_00002.m4s from east-1: HTTP 500"]
    assert len(first.requests) == 6


async def test_every_url_failing_gives_up_with_a_report() -> None:
    hosts = fleet((A, "east-1"), ("http://dead.test:1", "east-2"))
    hosts["a.test:81"] = ContentServer("east-1", TITLE, fail_after=3)
    report = await run(hosts)
    assert not report.ok
    assert report.segments == 0 and report.segments_total == 4
    assert report.errors[-1] == "every source failed for 480p/seg_00000.m4s"
    assert report.startup_ms == 0.0


async def test_origin_responses_count_as_origin_without_hits_or_misses() -> None:
    hosts = fleet((ORIGIN, None))
    hosts["origin.test:8000"] = ContentServer(None, TITLE)
    report = await run(hosts)
    assert report.ok
    assert report.segments_by_appliance == {"origin": 4}
    assert (report.hits, report.misses, report.hit_ratio) == (0, 0, 0.0)


async def test_tampered_segment_is_detected() -> None:
    hosts = fleet((A, "east-1"), (ORIGIN, None))
    hosts["a.test:81"] = ContentServer("east-1", TITLE, tamper=("film/480p/seg_00002.m4s",))
    hosts["origin.test:8000"] = ContentServer(None, TITLE)
    report = await run(hosts, origin_url=ORIGIN)
    assert report.bytes_verified is False and not report.ok
    assert report.segments == 4
    assert len(report.errors) == 1
    assert "film/480p/seg_00002.m4s: sha256" in report.errors[0] and "east-1" in report.errors[0]


async def test_wrong_size_is_detected() -> None:
    hosts = fleet((A, "east-1"), (ORIGIN, None))
    hosts["a.test:81"] = ContentServer("east-1", TITLE, replace={"film/480p/init.mp4": b"short"})
    hosts["origin.test:8000"] = ContentServer(None, TITLE)
    report = await run(hosts, origin_url=ORIGIN)
    assert report.bytes_verified is False
    assert any("film/480p/init.mp4: 5 bytes" in e for e in report.errors)


async def test_unreadable_origin_catalog_means_not_verified() -> None:
    hosts = fleet((A, "east-1"))
    hosts["a.test:81"] = ContentServer("east-1", TITLE)
    report = await run(hosts, origin_url="http://nowhere.test:9")
    assert report.bytes_verified is False and not report.ok
    assert "origin catalog unreachable" in report.errors[0]


async def test_malformed_playlist_from_the_first_url_fails_over() -> None:
    hosts = fleet((A, "east-1"), (B, "east-2"))
    hosts["a.test:81"] = ContentServer("east-1", TITLE, replace={"film/master.m3u8": b"<html>oops</html>"})
    hosts["b.test:82"] = ContentServer("east-2", TITLE)
    report = await run(hosts)
    assert report.ok
    assert report.failovers == 1
    assert "not an HLS playlist" in report.errors[0]


async def test_steering_errors_are_reported() -> None:
    refused = await run({"steering:8080": SteeringStandIn([], status=404)})
    assert not refused.ok and refused.errors == ["steering answered 404: no such title"]
    unreachable = await run({})
    assert not unreachable.ok and "steering unreachable" in unreachable.errors[0]


async def test_max_segments_stops_early() -> None:
    hosts = fleet((A, "east-1"))
    hosts["a.test:81"] = ContentServer("east-1", TITLE)
    report = await run(hosts, max_segments=2)
    assert report.ok and (report.segments, report.segments_total) == (2, 2)


async def test_slow_link_steps_down_and_counts_stalls() -> None:
    hosts = fleet((A, "east-1"))
    hosts["a.test:81"] = ContentServer("east-1", TITLE)
    # 480p segments are 70 kB: 28 s each on a 20 kbit/s link; 240p (20 kB) take 8 s for 4 s of media.
    link = Link(bps=20_000, latency=0.0)
    report = await run(hosts, link, initial_bandwidth_bps=200_000, abr=AbrPolicy(ewma_alpha=0.5))
    assert report.ok
    assert report.renditions == ["480p", "240p"]
    assert report.rendition == "240p"
    assert report.stalls == 3
    assert report.stall_ms > 0
    # Startup: master, 480p playlist and init, then the first 70 kB segment.
    assert report.startup_ms == pytest.approx(sum(len(TITLE.files[k]) * 8 / 20 for k in (
        "film/master.m3u8", "film/480p/index.m3u8", "film/480p/init.mp4", "film/480p/seg_00000.m4s",
    )), rel=1e-6)  # fmt: skip


async def test_slow_misses_on_a_fast_link_keep_the_same_renditions() -> None:
    app = ContentServer("east-1", TITLE)
    hosts = fleet((A, "east-1"))
    hosts["a.test:81"] = app
    # A cold appliance takes 1 s to the first byte of every file (upstream fetch), then streams fast.
    cold = await run(hosts, Link(bps=1e9, latency=1.0), initial_bandwidth_bps=100_000)
    warm_start = len(app.requests)
    warm = await run(hosts, Link(bps=1e9, latency=0.001), initial_bandwidth_bps=100_000)
    # 100 kbit/s x 0.8 starts at 240p (40k), the measured link allows 480p (140k) next.
    assert cold.renditions == warm.renditions == ["240p", "480p"]
    assert app.requests[warm_start:] == app.requests[:warm_start]
    assert warm.hit_ratio == 1.0
    # The waits still count: startup is 4 requests; the switch (playlist, init, segment) takes 3 s,
    # less than the 4 s buffered, so no stall.
    assert cold.startup_ms == pytest.approx(4000, rel=0.01)
    assert cold.stalls == 0


SOUND = make_title(audio=32_000)  # the origin's layout: video renditions plus "audio/" of its own


async def test_separate_audio_is_fetched_verified_and_counted() -> None:
    app = ContentServer("east-1", SOUND)
    hosts = fleet((A, "east-1"), (ORIGIN, None))
    hosts.update({"a.test:81": app, "origin.test:8000": ContentServer(None, SOUND)})
    report = await run(hosts, origin_url=ORIGIN)
    assert report.ok, report.errors
    assert report.bytes_verified is True
    # Master, 480p playlist and init, audio playlist and init, then each video segment with its audio.
    assert [path.split("/film/", 1)[1] for path in app.requests] == [
        "master.m3u8", "480p/index.m3u8", "480p/init.mp4", "audio/index.m3u8", "audio/init.mp4",
        *(f"{r}/seg_0000{i}.m4s" for i in range(4) for r in ("480p", "audio")),
    ]
    assert (report.renditions, report.audio) == (["480p"], "audio")
    assert (report.segments, report.audio_segments) == (4, 4)
    assert report.segments_by_appliance == report.audio_segments_by_appliance == {"east-1": 4}
    assert report.requests_by_appliance == {"east-1": 13}
    assert report.bytes == sum(len(d) for k, d in SOUND.files.items() if "240p" not in k)
    assert report.media_s == 16.0  # the video's timeline; the audio's runs a few ms off it

    # Audio bytes are checked against the catalog like the video's.
    hosts["a.test:81"] = ContentServer("east-1", SOUND, tamper=("film/audio/seg_00001.m4s",))
    tampered = await run(hosts, origin_url=ORIGIN)
    assert tampered.bytes_verified is False and not tampered.ok
    assert len(tampered.errors) == 1 and "film/audio/seg_00001.m4s: sha256" in tampered.errors[0]


async def test_a_position_is_buffered_only_once_its_audio_is_in() -> None:
    # 200 kB of video per 4 s segment on a 600 kbit/s link: 2.7 s each, in time; with 200 kB of
    # audio beside each, a position takes 5.3 s to arrive and the buffer runs dry before each.
    reports = []
    for title in (make_title(renditions=(("240p", 400_000),)),
                  make_title(renditions=(("240p", 400_000),), audio=400_000)):
        hosts = fleet((A, "east-1"))
        hosts["a.test:81"] = ContentServer("east-1", title)
        reports.append(await run(hosts, Link(bps=600_000, latency=0.0)))
    silent, sound = reports
    assert silent.ok and sound.ok and (silent.audio_segments, sound.audio_segments) == (0, 4)
    assert silent.stalls == 0 and silent.audio == ""
    assert sound.stalls == 3
    # Each later position arrives (its video + audio bytes) / link after the one before, with 4 s of media.
    position = sum(len(title.files[f"film/{r}/seg_00001.m4s"]) for r in ("240p", "audio")) * 8 / 600
    assert sound.stall_ms == pytest.approx(3 * (position - 4000), rel=1e-6)


async def test_audio_failover_and_unknown_group() -> None:
    # The first appliance lacks an audio segment: the next ranked one serves it, and the rest.
    lacking = FakeTitle("film", {k: v for k, v in SOUND.files.items() if k != "film/audio/seg_00002.m4s"})
    hosts = fleet((A, "east-1"), (B, "east-2"))
    hosts.update({"a.test:81": ContentServer("east-1", lacking), "b.test:82": ContentServer("east-2", SOUND)})
    report = await run(hosts)
    assert report.ok and report.failovers == 1 and "audio/seg_00002.m4s" in report.errors[0]
    assert report.segments_by_appliance == {"east-1": 3, "east-2": 1}
    assert report.audio_segments_by_appliance == {"east-1": 2, "east-2": 2}
    # A variant whose AUDIO names no group with a URI plays its own segments only (muxed sound).
    text = SOUND.files["film/master.m3u8"].decode().replace('GROUP-ID="aud"', 'GROUP-ID="other"')
    hosts["a.test:81"] = ContentServer("east-1", SOUND, replace={"film/master.m3u8": text.encode()})
    muxed = await run(hosts)
    assert muxed.ok and muxed.audio == "" and muxed.audio_segments == 0 and muxed.segments == 4

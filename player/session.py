"""One playback: ask steering, then fetch playlists and segments with ABR and failover; report.

A title whose master playlist has an audio group is played as a player of separate audio does
it: beside each video segment, the audio segment of the same number (from the audio rendition's
own playlist and init segment); a position counts as buffered once both are in.
"""

from __future__ import annotations

import asyncio
import posixpath
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from .abr import AbrPolicy, RenditionChooser, ThroughputEstimate
from .buffer import PlaybackBuffer
from .errors import PlayerError, PlaylistError, SteeringRefused
from .hls import AudioRendition, MediaPlaylist, Variant, parse_master, parse_media
from .report import PlayReport
from .sources import Fetched, Source, SourceList, Tally, sources_from_answer
from .verify import FileCatalog, load_catalog

__all__ = ["AbrPolicy", "FileCatalog", "Pacing", "PlayReport", "play"]

DEFAULT_ABR = AbrPolicy()

# Called after every media segment (with its audio, if any) with its index (from 0) and the video
# segment that was fetched.
SegmentHook = Callable[[int, Fetched], None]


@dataclass(frozen=True)
class Pacing:
    """Real-time playback, as a viewer's player does it: fetch ahead only up to a buffer target.

    Without pacing, ``play`` downloads every segment as fast as it can and only simulates the
    playback clock. With it, the next segment is fetched once the buffer has drained to
    ``buffer_target_s`` minus that segment's duration, and the player waits in real time (on
    ``sleep``) meanwhile; ``speed`` media seconds play per clock second (1.0 = real time; tests
    speed it up). ``play_out``: after the last segment, wait until the buffer has played out,
    like a viewer watching to the end.
    """

    buffer_target_s: float = 12.0
    speed: float = 1.0
    play_out: bool = False
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)

    def __post_init__(self) -> None:
        if self.buffer_target_s <= 0 or self.speed <= 0:
            raise ValueError("buffer_target_s and speed must be positive")


async def play(
    steering_url: str,
    title: str,
    *,
    client: httpx.AsyncClient | None = None,
    origin_url: str | None = None,
    initial_bandwidth_bps: float = 5_000_000,
    abr: AbrPolicy = DEFAULT_ABR,
    max_segments: int | None = None,
    timeout_s: float = 10.0,
    clock: Callable[[], float] = time.perf_counter,
    session: str | None = None,
    pacing: Pacing | None = None,
    catalog: FileCatalog | None = None,
    stop: asyncio.Event | None = None,
    on_segment: SegmentHook | None = None,
) -> PlayReport:
    """Play ``title`` through the steering service at ``steering_url``; never raises for playback errors.

    ``client``: HTTP client to use (left open); by default one is made with ``timeout_s`` per
    request that follows redirects. ``origin_url``: when given, every downloaded file is checked
    against the origin's catalog (``bytes_verified``). ``initial_bandwidth_bps``: the throughput
    assumed before the first measurement; ``abr``: the rendition choice policy.
    ``max_segments``: stop after that many media segments (None: the whole title). ``clock``:
    monotonic seconds, for throughput and the simulated playback. Returns a PlayReport whose
    ``ok`` says whether every segment arrived (and, when checked, matched the catalog).
    ``session``: the viewer's session token, sent to steering only (Authorization: Bearer).
    ``pacing``: play in real time with a buffer target (None: download as fast as possible).
    ``catalog``: the title's files map, already loaded (many viewers share one); it takes the
    place of ``origin_url`` for verification. ``stop``: when set, the viewer stops watching at
    the next segment boundary (or pause) and the report says ``stopped``; ``ok`` then means no
    error so far. ``on_segment``: called after every media segment (tests inject faults there).
    """
    if client is None:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=True) as own:
            return await play(
                steering_url,
                title,
                client=own,
                origin_url=origin_url,
                initial_bandwidth_bps=initial_bandwidth_bps,
                abr=abr,
                max_segments=max_segments,
                clock=clock,
                session=session,
                pacing=pacing,
                catalog=catalog,
                stop=stop,
                on_segment=on_segment,
            )
    playback = _Playback(
        client, steering_url, title, origin_url, initial_bandwidth_bps, abr, clock, session,
        pacing=pacing, catalog=catalog, stop=stop, on_segment=on_segment,
    )
    return await playback.run(max_segments)


@dataclass
class _Rendition:
    variant: Variant
    playlist: MediaPlaylist


@dataclass
class _Audio:
    rendition: AudioRendition
    playlist: MediaPlaylist

    @property
    def uri(self) -> str:
        assert self.rendition.uri is not None
        return self.rendition.uri


class _Playback:
    def __init__(
        self,
        client: httpx.AsyncClient,
        steering_url: str,
        title: str,
        origin_url: str | None,
        initial_bps: float,
        abr: AbrPolicy,
        clock: Callable[[], float],
        session: str | None = None,
        *,
        pacing: Pacing | None = None,
        catalog: FileCatalog | None = None,
        stop: asyncio.Event | None = None,
        on_segment: SegmentHook | None = None,
    ) -> None:
        self.session = session
        self.request_id: str | None = None
        self.client = client
        self.steering_url = steering_url.rstrip("/")
        self.title = title
        self.origin_url = origin_url
        self.clock = clock
        self.abr = abr
        self.estimate = ThroughputEstimate(initial_bps, abr.ewma_alpha)
        self.buffer = PlaybackBuffer(pacing.speed if pacing is not None else 1.0)
        self.tally = Tally()
        self.report = PlayReport(title=title)
        self.catalog: FileCatalog | None = catalog
        self.mismatches: list[str] = []
        self.checked = 0
        self.renditions: dict[str, _Rendition] = {}
        self.audio: dict[str, _Audio] = {}
        self.segment_renditions: Counter[str] = Counter()
        self.pacing = pacing
        self.stop = stop
        self.on_segment = on_segment

    async def run(self, max_segments: int | None) -> PlayReport:
        started = self.clock()
        try:
            if self.catalog is None and self.origin_url is not None:
                self.catalog = await load_catalog(self.client, self.origin_url, self.title)
            started = self.clock()  # the catalog check is ours, not part of the viewer's startup
            steered = await self._steer()
            sources = SourceList(self.client, steered, clock=self.clock, tally=self.tally,
                                 request_id=self.request_id)
            await self._play(sources, started, max_segments)
        except PlayerError as exc:
            self.tally.errors.append(str(exc))
            fatal = True
        else:
            fatal = False
        return self._finish(started, fatal)

    async def _steer(self) -> list[Source]:
        url = f"{self.steering_url}/v1/playback"
        try:
            headers = {"Authorization": f"Bearer {self.session}"} if self.session else None
            response = await self.client.post(url, json={"title": self.title}, headers=headers)
        except httpx.HTTPError as exc:
            raise SteeringRefused(f"steering unreachable at {url}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise SteeringRefused(f"steering answered {response.status_code}: {_message(response)}")
        try:
            body = response.json()
        except ValueError:
            raise SteeringRefused("steering sent no JSON") from None
        sources = sources_from_answer(body)
        rid = body.get("request_id")
        self.request_id = rid if isinstance(rid, str) else None
        self.report.site = str(body.get("site", ""))
        self.report.site_reason = str(body.get("site_reason", ""))
        self.report.ranked = [s.label for s in sources]
        return sources

    async def _play(self, sources: SourceList, started: float, max_segments: int | None) -> None:
        master = parse_master(_body(await self._fetch(sources, "master.m3u8", check=parse_master)))
        chooser = RenditionChooser(master.variants, self.estimate, self.abr)
        current = await self._rendition(sources, chooser.fitting())
        audio = await self._audio(sources, master.audio_for(current.variant))
        total = len(current.playlist.segments)
        if max_segments is not None:
            total = min(total, max(max_segments, 0))
        self.report.segments_total = total
        for i in range(total):
            if i > 0 and await self._pace(current.playlist.segments[i].duration):
                return
            if i > 0:
                wanted = chooser.next(current.variant, self.buffer.level(self.clock()))
                if wanted != current.variant:
                    candidate = await self._rendition(sources, wanted)
                    # Renditions share one segment grid; one that does not cannot take over.
                    if len(candidate.playlist.segments) >= total:
                        current = candidate
                        audio = await self._audio(sources, master.audio_for(current.variant))
            segment = current.playlist.segments[i]
            fetched = await self._fetch(sources, _resolve(current.variant.uri, segment.uri))
            size, seconds = fetched.size, fetched.transfer_seconds
            if audio is not None and i < len(audio.playlist.segments):
                heard = await self._fetch(sources, _resolve(audio.uri, audio.playlist.segments[i].uri))
                size, seconds = size + heard.size, seconds + heard.transfer_seconds
                self.report.audio_segments += 1
                by = self.report.audio_segments_by_appliance
                by[heard.served_by] = by.get(heard.served_by, 0) + 1
            # One sample per position: a variant's BANDWIDTH counts its video and audio together.
            self.estimate.add(size, seconds)
            arrived = self.clock()  # the position plays only once its video and its audio are in
            self.buffer.add(arrived, segment.duration)
            if i == 0:
                self.report.startup_ms = (arrived - started) * 1000
            self.report.segments += 1
            self.report.media_s += segment.duration
            by = self.report.segments_by_appliance
            by[fetched.served_by] = by.get(fetched.served_by, 0) + 1
            name = current.variant.name
            self.segment_renditions[name] += 1
            if name not in self.report.renditions:
                self.report.renditions.append(name)
            if self.on_segment is not None:
                self.on_segment(i, fetched)
        if self.pacing is not None and self.pacing.play_out:
            await self._pause(self.buffer.wait_for_level(self.clock(), 0.0))

    async def _pace(self, next_duration: float) -> bool:
        """With pacing, wait until the next segment fits the buffer target. True: the viewer stopped."""
        if self.stop is not None and self.stop.is_set():
            self.report.stopped = True
            return True
        if self.pacing is None:
            return False
        target = max(self.pacing.buffer_target_s - next_duration, 0.0)
        return await self._pause(self.buffer.wait_for_level(self.clock(), target))

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` of real time, or until ``stop`` is set (then True)."""
        assert self.pacing is not None
        if seconds > 0:
            if self.stop is None:
                await self.pacing.sleep(seconds)
            else:
                sleeping = asyncio.ensure_future(self.pacing.sleep(seconds))
                stopping = asyncio.ensure_future(self.stop.wait())
                try:
                    await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeping.cancel()
                    stopping.cancel()
        if self.stop is not None and self.stop.is_set():
            self.report.stopped = True
            return True
        return False

    async def _rendition(self, sources: SourceList, variant: Variant) -> _Rendition:
        """The variant's media playlist, its init segment fetched; both once per playback."""
        known = self.renditions.get(variant.uri)
        if known is not None:
            return known
        playlist = parse_media(_body(await self._fetch(sources, variant.uri, check=parse_media)))
        if playlist.init_uri is not None:
            await self._fetch(sources, _resolve(variant.uri, playlist.init_uri))
        rendition = _Rendition(variant, playlist)
        self.renditions[variant.uri] = rendition
        return rendition

    async def _audio(self, sources: SourceList, rendition: AudioRendition | None) -> _Audio | None:
        """The audio rendition's media playlist, its init segment fetched; both once per playback.
        None: no audio of its own (a silent title, or sound inside the video segments)."""
        if rendition is None or rendition.uri is None:
            return None
        known = self.audio.get(rendition.uri)
        if known is None:
            playlist = parse_media(_body(await self._fetch(sources, rendition.uri, check=parse_media)))
            if playlist.init_uri is not None:
                await self._fetch(sources, _resolve(rendition.uri, playlist.init_uri))
            known = self.audio[rendition.uri] = _Audio(rendition, playlist)
        self.report.audio = rendition.rendition
        return known

    async def _fetch(
        self, sources: SourceList, relative: str, *, check: Callable[[str], object] | None = None
    ) -> Fetched:
        body_check = None if check is None else (lambda body: check(_text(body)))
        fetched = await sources.fetch(relative, check=body_check, keep_body=check is not None)
        if self.catalog is not None:
            self.checked += 1
            problem = self.catalog.problem(fetched.url, fetched.size, fetched.sha256)
            if problem is not None:
                self.mismatches.append(f"verification: {problem} (served by {fetched.served_by})")
        return fetched

    def _finish(self, started: float, fatal: bool) -> PlayReport:
        r, t = self.report, self.tally
        r.elapsed_ms = (self.clock() - started) * 1000
        r.bytes, r.hits, r.misses, r.failovers = t.bytes, t.hits, t.misses, t.failovers
        r.bytes_by_appliance = dict(sorted(t.bytes_by_appliance.items()))
        r.played_s = round(self.buffer.played(self.clock()), 3)
        r.hit_ratio = t.hits / (t.hits + t.misses) if t.hits + t.misses else 0.0
        r.requests_by_appliance = dict(sorted(t.requests_by_appliance.items()))
        r.segments_by_appliance = dict(sorted(r.segments_by_appliance.items()))
        r.audio_segments_by_appliance = dict(sorted(r.audio_segments_by_appliance.items()))
        r.stalls, r.stall_ms = self.buffer.stalls, self.buffer.stall_s * 1000
        r.media_s = round(r.media_s, 3)
        if self.segment_renditions:
            most = max(self.segment_renditions.values())
            r.rendition = next(n for n in r.renditions if self.segment_renditions[n] == most)
        if self.origin_url is not None or self.catalog is not None:
            r.bytes_verified = self.catalog is not None and self.checked > 0 and not self.mismatches
        r.errors = [*t.errors, *self.mismatches]
        complete = r.segments == r.segments_total or (r.stopped and not fatal)
        r.ok = not fatal and complete and r.bytes_verified is not False
        return r


def _resolve(base: str, reference: str) -> str:
    """``reference`` (from the playlist at ``base``) as a path relative to the title directory."""
    if "://" in reference or reference.startswith("/") or "://" in base:
        return reference  # absolute: resolved against the source URL as it is
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), reference))


def _body(fetched: Fetched) -> str:
    assert fetched.body is not None
    return _text(fetched.body)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise PlaylistError("playlist is not UTF-8 text") from None


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]

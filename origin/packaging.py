"""Turn ffmpeg's HLS output into the addressing contract's files, checked and described.

ffmpeg names init segments itself (``init_0.mp4``); we rename them to ``init.mp4``, rewrite the
media playlists, check every rendition has the same segment grid, and write our own master
playlist (peak and average bandwidth measured from the segments, codecs from the init segment)
and a DASH manifest describing the same segments. Video renditions carry video only; a title with
sound has one ``audio`` rendition (an HLS audio group, a DASH audio AdaptationSet) on the same grid.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from streamfleet.addressing import (
    DASH_MANIFEST,
    INIT_SEGMENT,
    MASTER,
    MEDIA_PLAYLIST,
    ChunkKey,
    dash_key,
    make_key,
    master_key,
    segment_name,
)

from .dash import DashRepresentation, ticks, write_mpd
from .errors import IngestError
from .hls import (
    AudioRendition,
    MediaPlaylist,
    Variant,
    avc1_codec,
    parse_media_playlist,
    replace_init_uri,
    truncate_media_playlist,
    write_master,
)
from .ladder import AUDIO, AUDIO_CHANNELS, Rung
from .mp4 import track_timescales

AAC_LC = "mp4a.40.2"
# The master playlist's GROUP-ID of the audio rendition, and the NAME players show for it.
AUDIO_GROUP = "aud"
AUDIO_NAME = "Main"


def sha256_file(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


@dataclass(frozen=True)
class PackagedTrack:
    """One packaged CMAF track: its media playlist, bitrates, codec string and timescale."""

    playlist: MediaPlaylist
    bandwidth: int
    average_bandwidth: int
    codecs: str
    # Ticks per second of the track (the DASH SegmentTimeline's unit): the sample rate for audio.
    timescale: int

    def durations(self) -> tuple[int, ...]:
        """The segments' real durations (from the playlist) in ticks of ``timescale``."""
        return ticks([d for _, d in self.playlist.segments], self.timescale)


@dataclass(frozen=True)
class PackagedRendition(PackagedTrack):
    """A video rendition: a packaged track plus the rung it encodes."""

    rung: Rung

    def dash(self) -> DashRepresentation:
        """This rendition as the DASH manifest lists it."""
        return DashRepresentation(self.rung.name, self.bandwidth, self.codecs, self.timescale,
                                  self.durations(), self.rung.width, self.rung.height)


@dataclass(frozen=True)
class PackagedAudio(PackagedTrack):
    """The audio rendition: its segments start within one AAC frame of the video's."""

    def dash(self) -> DashRepresentation:
        """The audio as the DASH manifest lists it (its own, real segment durations)."""
        return DashRepresentation(AUDIO, self.bandwidth, self.codecs, self.timescale, self.durations())


@dataclass(frozen=True)
class Package:
    """A packaged title in a scratch directory: every file to store, by its key."""

    title: str
    renditions: tuple[PackagedRendition, ...]
    files: dict[ChunkKey, Path]
    # Media segments per rendition (the same in every rendition, the audio's included).
    segments: int
    duration_s: float
    audio: PackagedAudio | None = None


def _media(out_dir: Path, title: str, name: str, files: dict[ChunkKey, Path],
           keep: int | None = None) -> tuple[MediaPlaylist, int, int, bytes]:
    """Finish the rendition folder ``name`` ffmpeg wrote: init segment renamed ``init.mp4``, playlist
    checked (and cut to its first ``keep`` segments), every file added to ``files``.

    Returns (playlist, peak and average bits/s measured from the segments, init segment bytes).
    Raises IngestError when the folder is not a complete fMP4 rendition.
    """
    rdir = out_dir / name
    playlist_path = rdir / MEDIA_PLAYLIST
    try:
        text = playlist_path.read_text()
        playlist = parse_media_playlist(text)
    except (OSError, ValueError) as exc:
        raise IngestError(f"rendition {name}: unusable playlist from ffmpeg: {exc}") from None
    if not playlist.ended or not playlist.segments:
        raise IngestError(f"rendition {name}: ffmpeg wrote an incomplete playlist")
    if "/" in playlist.init_uri or playlist.init_uri.startswith("."):
        raise IngestError(f"rendition {name}: unexpected init segment {playlist.init_uri!r}")
    if playlist.init_uri != INIT_SEGMENT:
        os.replace(rdir / playlist.init_uri, rdir / INIT_SEGMENT)
        text = replace_init_uri(text, INIT_SEGMENT)
        playlist_path.write_text(text)
    expected = [segment_name(i) for i in range(len(playlist.segments))]
    if [uri for uri, _ in playlist.segments] != expected:
        raise IngestError(f"rendition {name}: segments are not named seg_00000.m4s, seg_00001.m4s...")
    if keep is not None and len(playlist.segments) != keep:
        if len(playlist.segments) < keep:
            raise IngestError(f"rendition {name}: {len(playlist.segments)} segments, the video has {keep}")
        # Past the video's last segment: nothing plays there (see _audio).
        for uri, _ in playlist.segments[keep:]:
            (rdir / uri).unlink()
        text = truncate_media_playlist(text, keep)
        playlist_path.write_text(text)
        playlist = parse_media_playlist(text)

    files[make_key(title, name, MEDIA_PLAYLIST)] = playlist_path
    files[make_key(title, name, INIT_SEGMENT)] = rdir / INIT_SEGMENT
    peak = 0.0
    total_bytes = 0
    for uri, duration in playlist.segments:
        files[make_key(title, name, uri)] = rdir / uri
        size = (rdir / uri).stat().st_size
        total_bytes += size
        if duration > 0:
            peak = max(peak, size * 8 / duration)
    average = total_bytes * 8 / playlist.duration_s if playlist.duration_s > 0 else peak
    try:
        init = (rdir / INIT_SEGMENT).read_bytes()
    except OSError as exc:
        raise IngestError(f"rendition {name}: no init segment: {exc}") from None
    return playlist, math.ceil(peak), math.ceil(average), init


def _timescale(name: str, init: bytes, handler: str) -> int:
    """The timescale of the init segment's ``handler`` ("vide", "soun") track; raises IngestError."""
    try:
        timescale = track_timescales(init).get(handler, 0)
    except ValueError as exc:
        raise IngestError(f"rendition {name}: {exc}") from None
    if timescale <= 0:
        raise IngestError(f"rendition {name}: init segment has no {handler} track")
    return timescale


def _rendition(out_dir: Path, title: str, rung: Rung, files: dict[ChunkKey, Path]) -> PackagedRendition:
    playlist, peak, average, init = _media(out_dir, title, rung.name, files)
    try:
        codecs = avc1_codec(init)
    except ValueError as exc:
        raise IngestError(f"rendition {rung.name}: {exc}") from None
    timescale = _timescale(rung.name, init, "vide")
    if "soun" in track_timescales(init):
        raise IngestError(f"rendition {rung.name}: video segments must not carry audio")
    return PackagedRendition(playlist, peak, average, codecs, timescale, rung)


def _audio(out_dir: Path, title: str, segments: int, files: dict[ChunkKey, Path]) -> PackagedAudio:
    """The audio rendition, cut to the video's ``segments``.

    ffmpeg cuts audio at the first AAC frame at or past each boundary, measured from the audio's
    first frame, which is the encoder's priming frame (one frame before the video starts). When
    the video ends on a boundary, the audio's last frame so starts one more segment: it is dropped
    (the last AAC frame, 21 ms at 48 kHz), as is anything else past the video's end.
    """
    playlist, peak, average, init = _media(out_dir, title, AUDIO, files, keep=segments)
    return PackagedAudio(playlist, peak, average, AAC_LC, _timescale(AUDIO, init, "soun"))


def package(out_dir: Path, title: str, rungs: list[Rung], fps: Fraction, has_audio: bool) -> Package:
    """Check and finish ffmpeg's output in ``out_dir`` (video renditions ``rungs``, plus the
    ``audio`` rendition with ``has_audio``); writes ``out_dir/master.m3u8`` and ``out_dir/manifest.mpd``.

    Raises IngestError when a rendition is missing, malformed or not on the same segment grid.
    """
    files: dict[ChunkKey, Path] = {}
    renditions = tuple(_rendition(out_dir, title, r, files) for r in rungs)
    # Players switch renditions at segment boundaries: they must be the same in all of them.
    grid = [round(d, 3) for _, d in renditions[0].playlist.segments]
    for r in renditions[1:]:
        if [round(d, 3) for _, d in r.playlist.segments] != grid:
            raise IngestError(
                f"renditions {renditions[0].rung.name} and {r.rung.name} have different segment grids"
            )
    audio = _audio(out_dir, title, len(grid), files) if has_audio else None
    group = None if audio is None else AudioRendition(f"{AUDIO}/{MEDIA_PLAYLIST}", AUDIO_GROUP, AUDIO_NAME,
                                                       AUDIO_CHANNELS)
    # A variant plays with the audio group: its BANDWIDTH and CODECS count the audio too (RFC 8216).
    peak, average = (audio.bandwidth, audio.average_bandwidth) if audio else (0, 0)
    codecs = f",{audio.codecs}" if audio else ""
    master = out_dir / MASTER
    master.write_text(write_master([
        Variant(f"{r.rung.name}/{MEDIA_PLAYLIST}", r.bandwidth + peak, r.average_bandwidth + average,
                r.rung.width, r.rung.height, r.codecs + codecs, fps)
        for r in renditions
    ], group))
    files[master_key(title)] = master
    # The same renditions, in the same order, over the same segments; audio in a set of its own.
    mpd = out_dir / DASH_MANIFEST
    try:
        mpd.write_bytes(write_mpd([r.dash() for r in renditions], [audio.dash()] if audio else [],
                                  frame_rate=fps))
    except ValueError as exc:
        raise IngestError(f"cannot describe the title in DASH: {exc}") from None
    files[dash_key(title)] = mpd
    return Package(title, renditions, files, len(grid), round(renditions[0].playlist.duration_s, 3), audio)

"""Turn ffmpeg's HLS output into the addressing contract's files, checked and described.

ffmpeg names init segments itself (``init_0.mp4``); we rename them to ``init.mp4``, rewrite the
media playlists, check every rendition has the same segment grid, and write our own master
playlist (peak and average bandwidth measured from the segments, codecs from the init segment).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from streamfleet.addressing import INIT_SEGMENT, MEDIA_PLAYLIST, ChunkKey, make_key, master_key, segment_name

from .errors import IngestError
from .hls import MediaPlaylist, Variant, avc1_codec, parse_media_playlist, replace_init_uri, write_master
from .ladder import Rung

AAC_LC = "mp4a.40.2"


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
class PackagedRendition:
    rung: Rung
    playlist: MediaPlaylist
    bandwidth: int
    average_bandwidth: int
    codecs: str


@dataclass(frozen=True)
class Package:
    """A packaged title in a scratch directory: every file to store, by its key."""

    title: str
    renditions: tuple[PackagedRendition, ...]
    files: dict[ChunkKey, Path]
    # Media segments per rendition (the same in every rendition).
    segments: int
    duration_s: float


def _rendition(out_dir: Path, title: str, rung: Rung, has_audio: bool,
               files: dict[ChunkKey, Path]) -> PackagedRendition:
    rdir = out_dir / rung.name
    playlist_path = rdir / MEDIA_PLAYLIST
    try:
        text = playlist_path.read_text()
        playlist = parse_media_playlist(text)
    except (OSError, ValueError) as exc:
        raise IngestError(f"rendition {rung.name}: unusable playlist from ffmpeg: {exc}") from None
    if not playlist.ended or not playlist.segments:
        raise IngestError(f"rendition {rung.name}: ffmpeg wrote an incomplete playlist")
    if "/" in playlist.init_uri or playlist.init_uri.startswith("."):
        raise IngestError(f"rendition {rung.name}: unexpected init segment {playlist.init_uri!r}")
    if playlist.init_uri != INIT_SEGMENT:
        os.replace(rdir / playlist.init_uri, rdir / INIT_SEGMENT)
        playlist_path.write_text(replace_init_uri(text, INIT_SEGMENT))
    expected = [segment_name(i) for i in range(len(playlist.segments))]
    if [uri for uri, _ in playlist.segments] != expected:
        raise IngestError(f"rendition {rung.name}: segments are not named seg_00000.m4s, seg_00001.m4s...")

    files[make_key(title, rung.name, MEDIA_PLAYLIST)] = playlist_path
    files[make_key(title, rung.name, INIT_SEGMENT)] = rdir / INIT_SEGMENT
    peak = 0.0
    total_bytes = 0
    for uri, duration in playlist.segments:
        key = make_key(title, rung.name, uri)
        files[key] = rdir / uri
        size = (rdir / uri).stat().st_size
        total_bytes += size
        if duration > 0:
            peak = max(peak, size * 8 / duration)
    average = total_bytes * 8 / playlist.duration_s if playlist.duration_s > 0 else peak
    try:
        codecs = avc1_codec((rdir / INIT_SEGMENT).read_bytes())
    except ValueError as exc:
        raise IngestError(f"rendition {rung.name}: {exc}") from None
    if has_audio:
        codecs += "," + AAC_LC
    return PackagedRendition(rung, playlist, math.ceil(peak), math.ceil(average), codecs)


def package(out_dir: Path, title: str, rungs: list[Rung], fps: Fraction, has_audio: bool) -> Package:
    """Check and finish ffmpeg's output in ``out_dir``; writes ``out_dir/master.m3u8``.

    Raises IngestError when a rendition is missing, malformed or not on the same segment grid.
    """
    files: dict[ChunkKey, Path] = {}
    renditions = tuple(_rendition(out_dir, title, r, has_audio, files) for r in rungs)
    # Players switch renditions at segment boundaries: they must be the same in all of them.
    grid = [round(d, 3) for _, d in renditions[0].playlist.segments]
    for r in renditions[1:]:
        if [round(d, 3) for _, d in r.playlist.segments] != grid:
            raise IngestError(
                f"renditions {renditions[0].rung.name} and {r.rung.name} have different segment grids"
            )
    master = out_dir / "master.m3u8"
    master.write_text(write_master([
        Variant(f"{r.rung.name}/{MEDIA_PLAYLIST}", r.bandwidth, r.average_bandwidth,
                r.rung.width, r.rung.height, r.codecs, fps)
        for r in renditions
    ]))
    files[master_key(title)] = master
    return Package(title, renditions, files, len(grid), round(renditions[0].playlist.duration_s, 3))

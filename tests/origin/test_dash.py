"""The DASH manifest: built from the packaged renditions, catalogued like the master playlist, and read
by ffmpeg's own DASH demuxer through a real origin."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import av
import httpx
import pytest

from origin import dash
from origin.app import build_app
from origin.catalog import Catalog, FileInfo
from origin.config import OriginConfig
from origin.dash import DashRepresentation, ticks, write_mpd
from origin.ffmpeg import ffmpeg_exe
from origin.hls import parse_master, parse_media_playlist
from origin.ingest import IngestResult
from origin.mp4 import track_timescales
from origin.store_fs import FileObjectStore
from streamfleet.addressing import dash_key, make_key, master_key, segment_name
from streamfleet.tokens import TokenSettings, sign

from .conftest import TITLE
from .servers import serving

D = f"{{{dash.NAMESPACE}}}"
FAR_FUTURE = 4_000_000_000


def expand(template: str, rendition: str, number: int | None = None) -> str:
    """A SegmentTemplate URL with its identifiers filled in, as a DASH client does (ISO 23009-1 5.3.9.4.4)."""
    out = template.replace("$RepresentationID$", rendition)
    if number is not None:
        out = re.sub(r"\$Number%0(\d+)d\$", lambda m: f"{number:0{int(m.group(1))}d}", out)
    assert "$" not in out, out
    return out


def timeline(template: ET.Element) -> list[int]:
    """The segment durations a SegmentTemplate's SegmentTimeline spells out (``r`` expanded)."""
    out: list[int] = []
    for s in template.iterfind(f"{D}SegmentTimeline/{D}S"):
        out += [int(s.attrib["d"])] * (1 + int(s.get("r", "0")))
    return out


def representations(mpd: ET.Element) -> list[tuple[ET.Element, ET.Element]]:
    """Every Representation with the SegmentTemplate that applies to it."""
    out = []
    for aset in mpd.iterfind(f"{D}Period/{D}AdaptationSet"):
        for rep in aset.iterfind(f"{D}Representation"):
            template = rep.find(f"{D}SegmentTemplate")
            if template is None:
                template = aset.find(f"{D}SegmentTemplate")
            assert template is not None
            out.append((rep, template))
    return out


def referenced_keys(mpd: ET.Element, title: str) -> list[str]:
    """Cache keys of every init and media segment the manifest makes a client fetch."""
    keys = []
    for rep, template in representations(mpd):
        rid = rep.attrib["id"]
        keys.append(f"{title}/{expand(template.attrib['initialization'], rid)}")
        first = int(template.get("startNumber", "1"))
        for n in range(len(timeline(template))):
            keys.append(f"{title}/{expand(template.attrib['media'], rid, first + n)}")
    return keys


# -- the writer, on made-up renditions ----------------------------------------------------------


def test_ticks_recover_frame_exact_durations_from_extinf() -> None:
    # 120 frames at 30000/1001 fps, as #EXTINF prints them (6 decimals), in a 30000 timescale.
    assert ticks([4.004, 4.004, 1.001], 30000) == (120120, 120120, 30030)
    assert ticks([float(f"{96 * 1001 / 24000:.6f}")], 24000) == (96096,)
    for bad in ([], [0.0], [4.0, -1.0]):
        with pytest.raises(ValueError):
            ticks(bad, 12288)
    with pytest.raises(ValueError):
        ticks([4.0], 0)


def test_media_template_names_segments_as_addressing_does() -> None:
    for n in (0, 7, 12345):
        key = make_key("film", "720p", segment_name(n))
        assert f"film/{expand(dash.MEDIA_TEMPLATE, '720p', n)}" == key.cache_key
    assert expand(dash.INIT_TEMPLATE, "720p") == "720p/init.mp4"


def test_timeline_runs_collapse_equal_durations() -> None:
    durations = (49152, 49152, 49152, 24576, 49152)
    rep = DashRepresentation("480p", 1_400_000, "avc1.64001e", 12288, durations, 854, 480)
    mpd = ET.fromstring(write_mpd([rep], frame_rate=Fraction(24)))
    template = mpd.find(f"{D}Period/{D}AdaptationSet/{D}SegmentTemplate")
    assert template is not None
    runs = [dict(s.attrib) for s in template.iterfind(f"{D}SegmentTimeline/{D}S")]
    assert runs == [{"t": "0", "d": "49152", "r": "2"}, {"d": "24576"}, {"d": "49152"}]
    assert timeline(template) == list(rep.durations)
    assert mpd.attrib["type"] == "static" and mpd.attrib["profiles"] == dash.PROFILE
    # 4 * 4 s + 2 s, and the longest segment bounds the buffer.
    assert mpd.attrib["mediaPresentationDuration"] == "PT18.000S"
    assert mpd.attrib["maxSegmentDuration"] == "PT4.000S"
    aset = mpd.find(f"{D}Period/{D}AdaptationSet")
    assert aset is not None and aset.attrib["contentType"] == "video" and aset.attrib["frameRate"] == "24"
    assert aset.find(f"{D}ContentComponent") is None


def test_separate_audio_and_differing_timescales() -> None:
    video = [DashRepresentation("720p", 3_000_000, "avc1.64001f", 30000, (120120, 60060), 1280, 720),
             DashRepresentation("360p", 900_000, "avc1.64001e", 15000, (60060, 30030), 640, 360)]
    # AAC frames end a few ms off the video's boundaries: the audio's own, real durations.
    audio = [DashRepresentation("audio", 130_000, "mp4a.40.2", 48000, (192512, 96768))]
    mpd = ET.fromstring(write_mpd(video, audio, frame_rate=Fraction(30000, 1001)))
    sets = mpd.findall(f"{D}Period/{D}AdaptationSet")
    assert [(s.attrib["contentType"], s.attrib["mimeType"]) for s in sets] == [
        ("video", "video/mp4"), ("audio", "audio/mp4")]
    assert sets[0].attrib["frameRate"] == "30000/1001" and sets[0].attrib["maxWidth"] == "1280"
    # Timescales differ, so each video Representation carries its own template; audio shares its set's.
    assert sets[0].find(f"{D}SegmentTemplate") is None
    found = {rep.attrib["id"]: (int(t.attrib["timescale"]), timeline(t)) for rep, t in representations(mpd)}
    assert found == {"720p": (30000, [120120, 60060]), "360p": (15000, [60060, 30030]),
                     "audio": (48000, [192512, 96768])}
    assert "width" not in sets[1].find(f"{D}Representation").attrib  # type: ignore[union-attr]
    # The presentation lasts as long as the video; the longest segment (audio's) bounds the buffer.
    assert mpd.attrib["mediaPresentationDuration"] == "PT6.006S"
    assert mpd.attrib["maxSegmentDuration"] == "PT4.011S"


def test_writer_refuses_what_it_cannot_describe() -> None:
    rep = DashRepresentation("480p", 1, "avc1.64001e", 12288, (49152,), 854, 480)
    audio = DashRepresentation("audio", 1, "mp4a.40.2", 48000, (192000,))
    with pytest.raises(ValueError):
        write_mpd([])
    with pytest.raises(ValueError):
        write_mpd([], [audio])  # audio alone is not a title
    with pytest.raises(ValueError):
        write_mpd([rep], [DashRepresentation("audio", 1, "mp4a.40.2", 48000, ())])
    with pytest.raises(ValueError):
        write_mpd([DashRepresentation("480p", 1, "avc1.64001e", 12288, (), 854, 480)])


def test_track_timescales_refuse_garbage() -> None:
    for data in (b"", b"\x00\x00\x00\x10moov", b"\x00\x00\x00\x08ftyp", b"\x00\x00\x00\x02junk"):
        with pytest.raises(ValueError):
            track_timescales(data)


# -- the manifest of a really ingested title ------------------------------------------------------


def stored(config: OriginConfig, cache_key: str) -> bytes:
    return (config.objects_dir / cache_key).read_bytes()


def test_manifest_is_catalogued_like_the_master(ingested: tuple[OriginConfig, IngestResult]) -> None:
    config, _ = ingested
    with Catalog(config.catalog_path) as cat:
        files = cat.detail(TITLE).files
    key = dash_key(TITLE).cache_key
    data = stored(config, key)
    assert files[key].size == len(data) and files[key].sha256 == hashlib.sha256(data).hexdigest()
    assert data.startswith(b"<?xml") and b"<MPD " in data


def test_manifest_describes_the_same_renditions_and_segments(
        ingested: tuple[OriginConfig, IngestResult]) -> None:
    config, result = ingested
    with Catalog(config.catalog_path) as cat:
        detail = cat.detail(TITLE)
    mpd = ET.fromstring(stored(config, dash_key(TITLE).cache_key))
    master = parse_master(stored(config, master_key(TITLE).cache_key).decode())
    sets = mpd.findall(f"{D}Period/{D}AdaptationSet")
    assert [(s.attrib["contentType"], s.attrib["mimeType"]) for s in sets] == [
        ("video", "video/mp4"), ("audio", "audio/mp4")]
    assert all(s.find(f"{D}ContentComponent") is None for s in sets)  # nothing multiplexed
    reps = representations(mpd)
    video, audio = reps[:-1], reps[-1][0]
    assert audio.attrib["id"] == "audio" and audio.attrib["codecs"] == "mp4a.40.2"
    # The video renditions in the master's order; a variant plays with the audio, so its BANDWIDTH
    # and CODECS are the video Representation's plus the audio's.
    assert [rep.attrib["id"] for rep, _ in video] == [uri.split("/")[0] for _, uri in master]
    for (rep, _), (attrs, _) in zip(video, master, strict=True):
        assert int(rep.attrib["bandwidth"]) + int(audio.attrib["bandwidth"]) == int(attrs["BANDWIDTH"])
        assert f"{rep.attrib['codecs']},mp4a.40.2" == attrs["CODECS"]
        assert f"{rep.attrib['width']}x{rep.attrib['height']}" == attrs["RESOLUTION"]
    for rep, template in reps:
        rid = rep.attrib["id"]
        init = stored(config, f"{TITLE}/{rid}/init.mp4")
        timescale = int(template.attrib["timescale"])
        assert timescale == track_timescales(init)["soun" if rid == "audio" else "vide"]
        durations = timeline(template)
        assert len(durations) == result.segments
        # The timeline is the playlist's, in whole ticks: the audio's real (AAC frame) durations.
        playlist = parse_media_playlist(stored(config, f"{TITLE}/{rid}/index.m3u8").decode())
        assert durations == list(ticks([d for _, d in playlist.segments], timescale))
        # Audio starts with the encoder's priming frame: at most one AAC frame (1024 samples) more.
        slack = 1024 / timescale + 1e-3 if rid == "audio" else 1e-3
        assert Fraction(sum(durations), timescale) == pytest.approx(detail.title.duration_s, abs=slack)
    assert timeline(video[0][1]) != timeline(reps[-1][1])  # audio is not forced onto the video's ticks
    # Every file it makes a client fetch is catalogued, and it leaves out no segment.
    referenced = referenced_keys(mpd, TITLE)
    assert len(referenced) == len(set(referenced))
    media = {k for k in detail.files if k.endswith((".mp4", ".m4s"))}
    assert set(referenced) == media


def test_timeline_matches_the_segments_own_timestamps(ingested: tuple[OriginConfig, IngestResult]) -> None:
    config, _ = ingested
    mpd = ET.fromstring(stored(config, dash_key(TITLE).cache_key))
    for rep, template in representations(mpd):
        rid, timescale = rep.attrib["id"], int(template.attrib["timescale"])
        init = stored(config, f"{TITLE}/{rid}/init.mp4")
        starts = []
        for n in range(len(timeline(template))):
            segment = stored(config, f"{TITLE}/{rid}/{segment_name(n)}")
            with av.open(io.BytesIO(init + segment), "r", format="mp4") as container:
                # One media type per track (CMAF): video renditions have no audio, and the reverse.
                kinds = [s.type for s in container.streams]
                assert kinds == ["audio" if rid == "audio" else "video"]
                stream = container.streams[0]
                assert stream.time_base is not None
                first = min(p.dts for p in container.demux(stream) if p.size and p.dts is not None)
                starts.append(Fraction(first) * stream.time_base)
        expected, at = [], 0
        for d in timeline(template):
            expected.append(Fraction(at, timescale))
            at += d
        assert [s - starts[0] for s in starts] == expected


def _input_streams(stderr: str, kind: str) -> tuple[float, list[str]]:
    """Duration and the kind ("Video", "Audio") of each distinct stream ffmpeg reports for input #0."""
    described = stderr.split(f"Input #0, {kind}", 1)[1].split("Output #0", 1)[0]
    duration = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", described)
    assert duration is not None
    h, m, s = duration.groups()
    # The HLS demuxer lists the audio once per program (variant): count each stream index once.
    streams = dict(re.findall(r"Stream #0:(\d+)\S*: (Video|Audio):", described))
    return int(h) * 3600 + int(m) * 60 + float(s), [streams[k] for k in sorted(streams, key=int)]


@pytest.mark.parametrize("manifest", ["dash", "hls"])
def test_ffmpeg_reads_the_manifests_through_the_origin(ingested: tuple[OriginConfig, IngestResult],
                                                       manifest: str) -> None:
    config, result = ingested
    token = sign(TokenSettings().keyring(), TITLE, FAR_FUTURE)
    key = dash_key(TITLE) if manifest == "dash" else master_key(TITLE)
    with serving(build_app(config)) as client:
        url = f"{client.base_url}{key.signed_path(token)}"
        head = httpx.head(url)
        assert head.status_code == 200 and head.headers["content-type"].startswith(key.content_type)
        # Stream copy of every stream to nowhere: every init and media segment is fetched over HTTP.
        run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-i", url, "-map", "0",
                              "-c", "copy", "-f", "null", "-", "-progress", "pipe:1"],
                             capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    duration, streams = _input_streams(run.stderr, manifest)
    assert duration == pytest.approx(result.duration_s, abs=0.05)
    videos = len([r for r in result.renditions if r.height > 0])
    assert sorted(streams) == ["Audio"] + ["Video"] * videos and videos == 2
    out_us = [int(v) for v in re.findall(r"^out_time_us=(\d+)$", run.stdout, re.MULTILINE)]
    assert out_us and out_us[-1] / 1e6 == pytest.approx(result.duration_s, abs=0.15)


def test_title_without_a_manifest_is_404_not_a_crash(tmp_path: Path) -> None:
    """Titles ingested before DASH have no manifest.mpd in their files map: a plain 404."""
    config = OriginConfig(data_dir=tmp_path / "origin")
    body = b"#EXTM3U\n"
    key = master_key("old-film")
    FileObjectStore(config.objects_dir).put_bytes(key, body)
    with Catalog(config.catalog_path) as cat:
        cat.reserve_title("old-film", "Old Film")
        info = FileInfo(key.cache_key, len(body), hashlib.sha256(body).hexdigest())
        cat.publish_title("old-film", 1.0, [], [info])
    token = sign(TokenSettings().keyring(), "old-film", FAR_FUTURE)
    with serving(build_app(config)) as client:
        assert client.get(key.signed_path(token)).status_code == 200
        missing = client.get(dash_key("old-film").signed_path(token))
    assert missing.status_code == 404 and missing.json()["error"]["status"] == 404

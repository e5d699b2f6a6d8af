from __future__ import annotations

import contextlib
import hashlib
import io
import json
import signal
import sqlite3
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from origin.catalog import READY, Catalog
from origin.config import IngestSettings, OriginConfig
from origin.errors import IngestError
from origin.ffmpeg import ffmpeg_exe
from origin.hls import parse_master, parse_media_playlist
from origin.ingest import IngestResult, ingest
from origin.jobs import DONE
from origin.store_fs import FileObjectStore

from .conftest import TITLE, config_in


def stored_files(config: OriginConfig, title: str) -> dict[str, bytes]:
    root = config.objects_dir
    paths = sorted(p for p in (root / title).rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in paths}


def empty_or_missing(path: Path) -> bool:
    return not path.exists() or list(path.iterdir()) == []


def job_states(config: OriginConfig) -> list[str]:
    if not config.jobs_path.exists():
        return []
    with contextlib.closing(sqlite3.connect(config.jobs_path)) as db:
        return [str(state) for (state,) in db.execute("SELECT state FROM jobs")]


def assert_no_leftovers(config: OriginConfig) -> None:
    """No scratch files, no staged sources, no job left to run."""
    assert empty_or_missing(config.work_dir) and empty_or_missing(config.sources_dir)
    assert set(job_states(config)) <= {DONE}


def assert_nothing_stored(config: OriginConfig) -> None:
    assert empty_or_missing(config.objects_dir)
    if config.catalog_path.exists():
        with Catalog(config.catalog_path) as cat:
            assert cat.list_titles() == []
    assert_no_leftovers(config)
    assert job_states(config) == []


def first_video_packet(init: bytes, segment: bytes) -> tuple[Fraction, bool, int, int, bool]:
    """(start time, keyframe, width, height, has audio) of a segment, decoded independently."""
    with av.open(io.BytesIO(init + segment), "r", format="mp4") as container:
        stream = container.streams.video[0]
        packet = next(p for p in container.demux(stream) if p.size)
        assert stream.codec_context.decode(packet) or stream.codec_context.decode(None)
        assert packet.pts is not None and stream.time_base is not None
        return (Fraction(packet.pts) * stream.time_base, bool(packet.is_keyframe), stream.width,
                stream.height, bool(container.streams.audio))


def test_ingest_stores_every_contract_file(ingested: tuple[OriginConfig, IngestResult]) -> None:
    config, result = ingested
    assert result.title == TITLE and result.segments == 2 and result.duration_s == pytest.approx(6.0, abs=0.1)
    sizes = [(r.name, r.width, r.height) for r in result.renditions]
    # The sound is a rendition of its own (no picture: 0x0), stored once, not inside every rung.
    assert sizes == [("360p", 640, 360), ("240p", 426, 240), ("audio", 0, 0)]
    assert 100_000 < result.renditions[-1].bandwidth < 160_000  # 128 kb/s AAC
    files = stored_files(config, TITLE)
    expected = {f"{TITLE}/master.m3u8", f"{TITLE}/manifest.mpd"} | {
        f"{TITLE}/{r}/{name}" for r in ("360p", "240p", "audio")
        for name in ("index.m3u8", "init.mp4", "seg_00000.m4s", "seg_00001.m4s")
    }
    assert set(files) == expected
    with Catalog(config.catalog_path) as cat:
        detail = cat.detail(TITLE)
    assert detail.title.status == READY and detail.title.name == "Fixture Clip"
    assert set(detail.files) == expected
    for key, data in files.items():
        assert detail.files[key].size == len(data)
        assert detail.files[key].sha256 == hashlib.sha256(data).hexdigest()
    assert_no_leftovers(config)
    assert result.summary() == {"title": TITLE, "renditions": ["360p", "240p", "audio"], "segments": 2,
                                "duration_s": result.duration_s}


def test_playlists_follow_the_addressing_contract(ingested: tuple[OriginConfig, IngestResult]) -> None:
    config, result = ingested
    files = stored_files(config, TITLE)
    text = files[f"{TITLE}/master.m3u8"].decode()
    master = parse_master(text)
    assert [uri for _, uri in master] == ["360p/index.m3u8", "240p/index.m3u8"]  # no audio-only variant
    # One audio group every variant plays with (RFC 8216 4.3.4.1).
    media = [line for line in text.splitlines() if line.startswith("#EXT-X-MEDIA:")]
    assert media == ['#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Main",DEFAULT=YES,AUTOSELECT=YES,'
                     'CHANNELS="2",URI="audio/index.m3u8"']
    audio = next(r for r in result.renditions if r.name == "audio")
    for attrs, uri in master:
        video = next(r for r in result.renditions if r.name == uri.split("/")[0])
        assert attrs["AUDIO"] == "aud"
        # BANDWIDTH counts the audio the variant plays with: the video's peak plus the audio's.
        assert int(attrs["BANDWIDTH"]) == video.bandwidth + audio.bandwidth
        assert int(attrs["AVERAGE-BANDWIDTH"]) < int(attrs["BANDWIDTH"])
        assert attrs["RESOLUTION"] == {"360p": "640x360", "240p": "426x240"}[uri.split("/")[0]]
        assert attrs["CODECS"].startswith("avc1.") and attrs["CODECS"].endswith(",mp4a.40.2")
    for rendition in ("360p", "240p", "audio"):
        playlist = parse_media_playlist(files[f"{TITLE}/{rendition}/index.m3u8"].decode())
        assert playlist.init_uri == "init.mp4" and playlist.ended
        assert [uri for uri, _ in playlist.segments] == ["seg_00000.m4s", "seg_00001.m4s"]


AAC_FRAME = Fraction(1024, 48000)


def audio_frames(init: bytes, segment: bytes) -> tuple[list[tuple[Fraction, Fraction]], bool]:
    """(start, duration) of every audio frame of a segment, and whether it also holds video."""
    with av.open(io.BytesIO(init + segment), "r", format="mp4") as container:
        stream = container.streams.audio[0]
        assert stream.time_base is not None and stream.codec_context.name == "aac"
        frames = [(Fraction(p.pts) * stream.time_base, Fraction(p.duration or 0) * stream.time_base)
                  for p in container.demux(stream) if p.size and p.pts is not None]
        return frames, bool(container.streams.video)


Frames = list[tuple[Fraction, Fraction]]


def audio_segments(files: dict[str, bytes], title: str) -> list[tuple[Frames, float]]:
    """Each audio segment's frames with the duration its playlist states; checks it holds no video."""
    init = files[f"{title}/audio/init.mp4"]
    playlist = parse_media_playlist(files[f"{title}/audio/index.m3u8"].decode())
    out = []
    for uri, stated in playlist.segments:
        frames, video = audio_frames(init, files[f"{title}/audio/{uri}"])
        assert frames and not video
        out.append((frames, stated))
    return out


def test_segments_are_aligned_across_renditions(ingested: tuple[OriginConfig, IngestResult]) -> None:
    config, _ = ingested
    files = stored_files(config, TITLE)
    grids = []
    for rendition, size in (("360p", (640, 360)), ("240p", (426, 240))):
        init = files[f"{TITLE}/{rendition}/init.mp4"]
        starts = []
        for n in range(2):
            segment = files[f"{TITLE}/{rendition}/seg_0000{n}.m4s"]
            start, key, width, height, audio = first_video_packet(init, segment)
            assert key and (width, height) == size and not audio  # video only (CMAF)
            starts.append(start)
        playlist = parse_media_playlist(files[f"{TITLE}/{rendition}/index.m3u8"].decode())
        grids.append((starts, [d for _, d in playlist.segments]))
    assert grids[0] == grids[1]
    starts, durations = grids[0]
    assert durations[0] == pytest.approx(4.0)
    assert starts[1] - starts[0] == pytest.approx(4.0)
    # The audio: frames back to back across segments, each segment starting within one AAC frame
    # of the video's, and the playlist stating each segment's real duration (not the video's).
    every: list[tuple[Fraction, Fraction]] = []
    for n, (frames, stated) in enumerate(audio_segments(files, TITLE)):
        assert max(d for _, d in frames) == AAC_FRAME
        assert abs(frames[0][0] - starts[n]) <= AAC_FRAME
        assert float(sum(d for _, d in frames)) == pytest.approx(stated, abs=1e-6) and stated != durations[n]
        every += frames
    assert all(b[0] == a[0] + a[1] for a, b in zip(every, every[1:], strict=False))
    video_end = starts[0] + Fraction(sum(durations)).limit_denominator(1000)
    assert abs(every[-1][0] + every[-1][1] - video_end) <= AAC_FRAME


def test_source_without_audio(tmp_path: Path, clip_240_silent: Path) -> None:
    config = config_in(tmp_path)
    seen: list[float] = []
    result = ingest(config, clip_240_silent, "Silent", progress=seen.append)
    assert result.title == "silent" and [r.name for r in result.renditions] == ["240p"]
    assert seen[-1] == 1.0 and seen == sorted(seen)
    files = stored_files(config, "silent")
    text = files["silent/master.m3u8"].decode()
    master = parse_master(text)
    assert master[0][0]["CODECS"].startswith("avc1.") and "mp4a" not in master[0][0]["CODECS"]
    assert "#EXT-X-MEDIA" not in text and "AUDIO=" not in text
    assert not any(key.startswith("silent/audio/") for key in files)
    # Without audio the DASH manifest has one video AdaptationSet and nothing else.
    mpd = files["silent/manifest.mpd"].decode()
    assert mpd.count("<AdaptationSet") == 1 and 'contentType="video"' in mpd and "mp4a" not in mpd
    assert f'codecs="{master[0][0]["CODECS"]}"' in mpd
    _, key, width, height, audio = first_video_packet(files["silent/240p/init.mp4"],
                                                      files["silent/240p/seg_00000.m4s"])
    assert key and (width, height) == (426, 240) and not audio


def test_audio_that_starts_late_and_outlasts_the_video(tmp_path: Path) -> None:
    """The audio rendition covers exactly the video: silence before sound that starts late, cut
    where the video ends, on the video's segment grid."""
    clip = tmp_path / "late.mp4"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error",
                    "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=6",
                    "-itsoffset", "0.5", "-f", "lavfi", "-i", "sine=sample_rate=44100:duration=6.3",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(clip)],
                   check=True)
    config = config_in(tmp_path)
    result = ingest(config, clip, "Late")
    assert [r.name for r in result.renditions] == ["240p", "audio"] and result.segments == 2
    files = stored_files(config, "late")
    first, *_ = first_video_packet(files["late/240p/init.mp4"], files["late/240p/seg_00000.m4s"])
    frame = Fraction(1024, 44100)
    segments = audio_segments(files, "late")
    assert len(segments) == 2
    assert abs(segments[0][0][0][0] - first) <= frame  # padded with silence from the video's start
    last = segments[-1][0][-1]
    assert abs(last[0] + last[1] - (first + 6)) <= frame  # the sound past the video (0.8 s) is cut


def _moov_at_end_truncated(path: Path, clip: Path) -> Path:
    """The clip remuxed with its index at the end (ffmpeg's default), then cut in half."""
    full = path.with_suffix(".full.mp4")
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(clip), "-c", "copy", str(full)],
                   check=True)
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return path


def _cut(path: Path, clip: Path, fraction: float) -> Path:
    data = clip.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def _audio_only(path: Path) -> Path:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1",
                    "-c:a", "aac", str(path)], check=True)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, clip: d / "missing.mp4", "no such file"),
        (lambda d, clip: d, "not a regular file"),
        (lambda d, clip: (d / "notes.txt", (d / "notes.txt").write_text("just text\n"))[0], "invalid data"),
        (lambda d, clip: (d / "empty.mp4", (d / "empty.mp4").write_bytes(b""))[0], "cannot read"),
        (lambda d, clip: _cut(d / "head.mp4", clip, 0.01), "cannot read"),
        (lambda d, clip: _cut(d / "half.mp4", clip, 0.5), "cannot read .*truncated"),
        (lambda d, clip: _moov_at_end_truncated(d / "nomoov.mp4", clip), "cannot read .*invalid data"),
        (lambda d, clip: _audio_only(d / "tone.m4a"), "no video stream"),
    ],
    ids=["missing", "directory", "text", "empty", "truncated-header", "truncated-half", "truncated-no-index",
         "audio-only"],
)
def test_bad_sources_are_refused_and_nothing_is_left(
    tmp_path: Path, clip_360: Path, make: Any, message: str
) -> None:
    config = config_in(tmp_path)
    source_dir = tmp_path / "sources"
    source_dir.mkdir()
    source = make(source_dir, clip_360)
    with pytest.raises(IngestError, match=message) as info:
        ingest(config, source, "Bad One")
    assert str(source) in str(info.value)
    assert_nothing_stored(config)


def test_duplicate_id_is_refused_and_original_untouched(ingested: tuple[OriginConfig, IngestResult],
                                                        clip_240_silent: Path) -> None:
    config, _ = ingested
    before = stored_files(config, TITLE)
    with pytest.raises(IngestError, match=f"title '{TITLE}' already exists"):
        ingest(config, clip_240_silent, "Other", TITLE)
    assert stored_files(config, TITLE) == before
    with Catalog(config.catalog_path) as cat:
        assert cat.get_title(TITLE).name == "Fixture Clip"


@pytest.mark.parametrize("title_id", ["Bad ID", "../etc", "-x", ""])
def test_invalid_title_id(tmp_path: Path, clip_240_silent: Path, title_id: str) -> None:
    config = config_in(tmp_path)
    with pytest.raises(IngestError, match="invalid"):
        ingest(config, clip_240_silent, "Fine Name", title_id)
    assert_nothing_stored(config)


def test_ffmpeg_failure_leaves_nothing(tmp_path: Path, clip_240_silent: Path) -> None:
    config = OriginConfig(data_dir=tmp_path / "origin", ingest=IngestSettings(ffmpeg="/bin/false"))
    with pytest.raises(IngestError, match="ffmpeg exited with status 1"):
        ingest(config, clip_240_silent, "Clip")
    assert_nothing_stored(config)


def flaky_moves(monkeypatch: pytest.MonkeyPatch, failing: Any) -> list[Any]:
    """Make the object store's move_file raise "No space left" on the calls ``failing(n)`` picks."""
    real_move = FileObjectStore.move_file
    calls: list[Any] = []

    def flaky_move(self: FileObjectStore, key: Any, source: Path) -> int:
        calls.append(key)
        if failing(len(calls)):
            raise OSError("No space left on device")
        return real_move(self, key, source)

    monkeypatch.setattr(FileObjectStore, "move_file", flaky_move)
    return calls


def test_failure_while_storing_removes_stored_objects(tmp_path: Path, clip_240_silent: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_in(tmp_path)
    calls = flaky_moves(monkeypatch, lambda n: n >= 3)  # the disk fills up and stays full
    with pytest.raises(IngestError, match="package job: No space left"):
        ingest(config, clip_240_silent, "Clip")
    # Two files stored, then every attempt (3) failed on its next move.
    assert len(calls) == 2 + config.pipeline.max_attempts
    assert_nothing_stored(config)


def test_a_failed_attempt_is_retried(tmp_path: Path, clip_240_silent: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_in(tmp_path)
    calls = flaky_moves(monkeypatch, lambda n: n == 3)  # one hiccup
    result = ingest(config, clip_240_silent, "Clip")
    assert len(calls) == 3 + result.files
    with Catalog(config.catalog_path) as cat:
        assert cat.get_title("clip").status == READY and len(cat.files("clip")) == result.files
    assert_no_leftovers(config)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamfleet.cli", *args], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_cli_testclip_ingest_and_errors(tmp_path: Path) -> None:
    config_path = tmp_path / "origin.toml"
    config_path.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    made = run_cli("testclip", str(tmp_path / "c.mp4"), "--seconds", "2", "--width", "320", "--height", "240")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["path"] == str(tmp_path / "c.mp4")

    done = run_cli("ingest", str(tmp_path / "c.mp4"), "--title", "CLI Clip", "--config", str(config_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "title": "cli-clip", "renditions": ["240p", "audio"], "segments": 1,
        "duration_s": pytest.approx(2.0, abs=0.1)}
    assert "ingest cli-clip: 100%" in done.stderr

    again = run_cli("ingest", str(tmp_path / "c.mp4"), "--title", "CLI Clip", "--config", str(config_path))
    assert again.returncode == 1 and again.stdout == ""
    last_line = again.stderr.strip().splitlines()[-1]
    assert last_line.startswith("streamfleet ingest: title 'cli-clip' already exists")

    (tmp_path / "t.txt").write_text("not video")
    bad = run_cli("ingest", str(tmp_path / "t.txt"), "--title", "T", "--config", str(config_path))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == f"streamfleet ingest: cannot read {tmp_path / 't.txt'}: invalid data"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_cli_interrupted_mid_encode_leaves_nothing(tmp_path: Path, clip_360: Path, signum: int) -> None:
    data = tmp_path / "data"
    config_path = tmp_path / "origin.toml"
    # A slow preset, so the chunk encode is still running when the signal comes.
    config_path.write_text(f'data_dir = "{data}"\nlog_level = "warning"\n[ingest]\npreset = "veryslow"\n')
    argv = [sys.executable, "-m", "streamfleet.cli", "ingest", str(clip_360), "--title", "Stop",
            "--config", str(config_path)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    config = OriginConfig(data_dir=data)
    try:
        deadline = time.monotonic() + 60
        while "encode" not in leased_kinds(config):
            assert proc.poll() is None and time.monotonic() < deadline, "no encode job started"
            time.sleep(0.02)
        time.sleep(0.3)  # the encode's ffmpeg is running now
        interrupted = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert time.monotonic() - interrupted < 10  # the running ffmpeg was stopped, not waited for
    assert proc.returncode == 130 and out == ""
    assert err.strip().splitlines()[-1] == "streamfleet ingest: interrupted; nothing was stored"
    assert_nothing_stored(config)


def leased_kinds(config: OriginConfig) -> set[str]:
    if not config.jobs_path.exists():
        return set()
    try:
        with contextlib.closing(sqlite3.connect(config.jobs_path, timeout=5)) as db:
            return {str(kind) for (kind,) in db.execute("SELECT kind FROM jobs WHERE state = 'leased'")}
    except sqlite3.OperationalError:  # the queue's tables are being created
        return set()

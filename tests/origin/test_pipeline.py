"""The chunked pipeline: jobs run by workers (in-process and as killed/restarted processes)."""

from __future__ import annotations

import io
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import pytest

from origin.catalog import READY, Catalog, TitleMeta
from origin.config import IngestSettings, OriginConfig, PipelineSettings
from origin.errors import IngestError
from origin.hls import parse_media_playlist
from origin.ingest import IngestResult
from origin.jobs import DONE, LEASED, Job, JobQueue
from origin.ladder import plan_ladder
from origin.packaging import package
from origin.pipeline import progress
from origin.submit import submit_source
from origin.verify import verify_package
from origin.worker import Worker
from streamfleet.launcher import write_toml

from .servers import FAST_ACCOUNTS


def pipeline_config(tmp_path: Path, preset: str = "veryfast", lease: float = 30.0) -> OriginConfig:
    return OriginConfig(data_dir=tmp_path / "origin", accounts=FAST_ACCOUNTS,
                        ingest=IngestSettings(segment_seconds=2, preset=preset),
                        pipeline=PipelineSettings(workers=0, chunk_seconds=2, lease_seconds=lease,
                                                  poll_seconds=0.05))


def queue_title(config: OriginConfig, clip: Path, name: str) -> str:
    source = config.data_dir / f"{name}.upload"
    source.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, source)
    with Catalog(config.catalog_path) as catalog:
        queue = JobQueue(config.jobs_path)
        try:
            return submit_source(config, catalog, queue, source, "clip.mp4", name, TitleMeta(tags=("demo",)))
        finally:
            queue.close()


def video_pts(init: bytes, segment: bytes) -> list[Fraction]:
    with av.open(io.BytesIO(init + segment), "r", format="mp4") as container:
        stream = container.streams.video[0]
        base = stream.time_base or Fraction(1)
        return sorted(Fraction(p.pts) * base for p in container.demux(stream) if p.size and p.pts is not None)


def test_pipeline_publishes_a_seamless_title(tmp_path: Path, clip_360: Path) -> None:
    config = pipeline_config(tmp_path)
    tid = queue_title(config, clip_360, "Chunked")
    worker = Worker(config)
    kinds = []
    try:
        while (job := worker.run_once()) is not None:
            kinds.append(job.kind)
            if job.kind != "package":
                assert worker.catalog.get_title(tid).status != READY  # ready only once verified
        detail = worker.catalog.detail(tid)
        jobs = worker.queue.jobs(tid)
    finally:
        worker.close()
    # 6 s at 2 s chunks: 3 chunks (each encoded into both renditions at once), audio once, one package.
    assert kinds[0] == "prepare" and kinds[-1] == "package"
    assert kinds.count("encode") == 3 and kinds.count("audio") == 1
    assert all(j.payload["rungs"] == ["360p", "240p"] for j in jobs if j.kind == "encode")
    assert detail.title.status == READY and detail.title.duration_s == pytest.approx(6.0, abs=0.1)
    assert [r.name for r in detail.renditions] == ["360p", "240p", "audio"]
    assert progress(jobs)["stage"] == "done"
    assert progress(jobs)["renditions"]["360p"] == {"chunks_done": 3, "chunks": 3, "percent": 100.0}
    objects = config.objects_dir
    grids = []
    for rendition in ("360p", "240p"):
        playlist = parse_media_playlist((objects / tid / rendition / "index.m3u8").read_text())
        assert [round(d, 3) for _, d in playlist.segments] == [2.0, 2.0, 2.0]
        init = (objects / tid / rendition / "init.mp4").read_bytes()
        every: list[Fraction] = []
        starts = []
        for uri, _ in playlist.segments:
            pts = video_pts(init, (objects / tid / rendition / uri).read_bytes())
            starts.append(pts[0])
            every += pts
        steps = {b - a for a, b in zip(every, every[1:], strict=False)}
        assert max(steps) - min(steps) <= Fraction(1, 1000)  # no gap or overlap at chunk joins
        assert len(every) == 6 * 24
        grids.append(starts)
    assert grids[0] == grids[1]
    # 6 s of 2 s segments ends on a boundary: the audio's last AAC frame would start a 4th segment.
    audio = parse_media_playlist((objects / tid / "audio" / "index.m3u8").read_text())
    assert len(audio.segments) == 3 and not (objects / tid / "audio" / "seg_00003.m4s").exists()
    assert not (config.work_dir / tid).exists()  # scratch removed


def test_verification_catches_a_broken_join(tmp_path: Path,
                                            ingested: tuple[OriginConfig, IngestResult]) -> None:
    config, result = ingested
    hls = tmp_path / "hls"
    shutil.copytree(config.objects_dir / result.title, hls)
    rungs = plan_ladder(config.ingest, 640, 360)
    pkg = package(hls, result.title, rungs, Fraction(24), True)
    verify_package(pkg)  # what the pipeline published is seamless
    # Two segments swapped: timestamps jump backwards between them.
    seg0, seg1 = hls / "240p" / "seg_00000.m4s", hls / "240p" / "seg_00001.m4s"
    data0, data1 = seg0.read_bytes(), seg1.read_bytes()
    seg0.write_bytes(data1)
    seg1.write_bytes(data0)
    with pytest.raises(IngestError, match="240p"):
        verify_package(pkg)
    seg0.write_bytes(data0)
    seg1.write_bytes(data1)
    # The audio: a playlist misstating a duration (the video's instead of its own), then its
    # segments swapped (with their durations, so only the time jump is wrong).
    playlist = hls / "audio" / "index.m3u8"
    text = playlist.read_text()
    durations = re.findall(r"#EXTINF:([0-9.]+),", text)
    assert len(durations) == 2
    playlist.write_text(text.replace(f"#EXTINF:{durations[0]},", "#EXTINF:4.000000,"))
    with pytest.raises(IngestError, match=f"audio segment 0: the playlist says 4.0 s, .*{durations[0]} s"):
        verify_package(package(hls, result.title, rungs, Fraction(24), True))
    playlist.write_text(text.replace(f"#EXTINF:{durations[0]},", "#EXTINF:X,")
                        .replace(f"#EXTINF:{durations[1]},", f"#EXTINF:{durations[0]},")
                        .replace("#EXTINF:X,", f"#EXTINF:{durations[1]},"))
    seg0, seg1 = hls / "audio" / "seg_00000.m4s", hls / "audio" / "seg_00001.m4s"
    data0, data1 = seg0.read_bytes(), seg1.read_bytes()
    seg0.write_bytes(data1)
    seg1.write_bytes(data0)
    with pytest.raises(IngestError, match="audio segment 1: audio frames are not continuous"):
        verify_package(package(hls, result.title, rungs, Fraction(24), True))
    seg0.write_bytes(data0)
    seg1.write_bytes(data1)
    playlist.write_text(text)
    # A rendition whose frames are not the size its rung says.
    wrong = package(hls, result.title, [rungs[0], replace(rungs[1], width=428)], Fraction(24), True)
    with pytest.raises(IngestError, match="240p: first frame is 426x240; expected 428x240"):
        verify_package(wrong)


def test_a_truncated_upload_fails_at_once(tmp_path: Path, clip_360: Path) -> None:
    config = pipeline_config(tmp_path)
    truncated = tmp_path / "half.mp4"
    truncated.write_bytes(clip_360.read_bytes()[: clip_360.stat().st_size // 2])
    tid = queue_title(config, truncated, "Half")
    worker = Worker(config)
    try:
        while worker.run_once() is not None:
            pass
        jobs = worker.queue.jobs(tid)
        meta = worker.catalog.meta(tid)
        status = worker.catalog.get_title(tid).status
    finally:
        worker.close()
    [failed] = [j for j in jobs if j.state == "failed"]
    # No retries: a damaged source stays damaged.
    assert failed.kind == "encode" and failed.attempts == 1
    assert failed.error is not None and failed.error.startswith("unusable source: truncated or damaged")
    assert status == "failed" and "truncated or damaged" in meta.error
    assert progress(jobs)["stage"] == "failed"
    assert not (config.work_dir / tid).exists()


def test_progress_counts_a_chunk_for_every_rendition_it_makes() -> None:
    def job(jid: int, kind: str, state: str, payload: dict[str, object]) -> Job:
        return Job(jid, "t", kind, 1, payload, state, 1, 3, None, None, None)

    jobs = [job(1, "prepare", DONE, {}), job(2, "audio", DONE, {}),
            job(3, "encode", DONE, {"chunk": 0, "rungs": ["720p", "240p"]}),
            job(4, "encode", LEASED, {"chunk": 1, "rungs": ["720p", "240p"]}),
            job(5, "encode", DONE, {"chunk": 2, "rung": "720p"}),  # queued by an older version
            job(6, "package", "waiting", {})]
    assert progress(jobs) == {"stage": "encoding", "audio": DONE, "renditions": {
        "720p": {"chunks_done": 2, "chunks": 3, "percent": 66.7},
        "240p": {"chunks_done": 1, "chunks": 2, "percent": 50.0}}}


def wait_for(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_worker_killed_mid_job_and_the_title_still_finishes(tmp_path: Path, clip_360: Path) -> None:
    # A slow preset so a chunk encode is still running when the worker is killed; a short lease.
    config = pipeline_config(tmp_path, preset="veryslow", lease=1.5)
    tid = queue_title(config, clip_360, "Survivor")
    config_path = write_toml(tmp_path / "origin.toml", {
        "data_dir": str(config.data_dir), "log_level": "warning",
        "ingest": {"segment_seconds": 2, "preset": "veryslow"},
        "pipeline": {"workers": 0, "chunk_seconds": 2, "lease_seconds": 1.5, "poll_seconds": 0.05}})
    argv = [sys.executable, "-m", "streamfleet.cli", "origin", "worker", "--config", str(config_path)]
    queue = JobQueue(config.jobs_path)
    victim = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    survivor: subprocess.Popen[bytes] | None = None
    try:
        marker = f":{victim.pid}:"

        def victim_encoding() -> bool:
            return any(j.kind == "encode" and j.state == LEASED and marker in (j.worker or "")
                       for j in queue.jobs(tid))

        wait_for(victim_encoding, 30, "the first worker to start encoding")
        [killed_job] = [j for j in queue.jobs(tid) if j.state == LEASED and marker in (j.worker or "")]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        survivor = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        catalog = Catalog(config.catalog_path)
        try:
            wait_for(lambda: catalog.get_title(tid).status == READY, 60, "the title to become ready")
        finally:
            catalog.close()
        retried = queue.get(killed_job.id)
        assert retried is not None and retried.state == DONE and retried.attempts == 2
        assert f":{survivor.pid}:" in (retried.worker or "")
        wait_for(lambda: progress(queue.jobs(tid))["stage"] == "done", 10, "the package job to be done")
    finally:
        queue.close()
        for proc in (victim, survivor):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    assert survivor.returncode == 0

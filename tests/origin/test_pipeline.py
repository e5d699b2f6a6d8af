"""The chunked pipeline: jobs run by workers (in-process and as killed/restarted processes)."""

from __future__ import annotations

import io
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest

from origin.catalog import READY, Catalog, TitleMeta
from origin.config import IngestSettings, OriginConfig, PipelineSettings
from origin.errors import IngestError
from origin.ffmpeg import encode_command, ffmpeg_exe, run_ffmpeg
from origin.hls import parse_media_playlist
from origin.jobs import DONE, LEASED, JobQueue
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
    # 6 s at 2 s chunks: 3 chunks x 2 renditions, audio once, then one package job.
    assert kinds[0] == "prepare" and kinds[-1] == "package"
    assert kinds.count("encode") == 6 and kinds.count("audio") == 1
    assert detail.title.status == READY and detail.title.duration_s == pytest.approx(6.0, abs=0.1)
    assert [r.name for r in detail.renditions] == ["360p", "240p"]
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
    assert not (config.work_dir / tid).exists()  # scratch removed


def test_verification_catches_a_broken_join(tmp_path: Path, clip_360: Path) -> None:
    config = pipeline_config(tmp_path)
    rungs = plan_ladder(config.ingest, 640, 360)
    hls = tmp_path / "hls"
    for r in rungs:
        (hls / r.name).mkdir(parents=True)
    run_ffmpeg(encode_command(ffmpeg_exe(), clip_360, rungs, config.ingest, hls, 24.0, True), 6.0,
               tmp_path / "log")
    pkg = package(hls, "broken", rungs, Fraction(24), True)
    verify_package(pkg)  # the one-pass encode is seamless
    # Two segments swapped: timestamps jump backwards between them.
    seg0, seg1 = hls / "240p" / "seg_00000.m4s", hls / "240p" / "seg_00001.m4s"
    data0, data1 = seg0.read_bytes(), seg1.read_bytes()
    seg0.write_bytes(data1)
    seg1.write_bytes(data0)
    with pytest.raises(IngestError, match="240p"):
        verify_package(pkg)


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

"""Benchmark: the chunked pipeline vs one ffmpeg process encoding the same ladder of the same clip.

Generates a 60 s 1080p test clip, ingests it once with the one-pass ``origin.ingest.ingest`` and
once through the job queue with ``--workers`` in-process workers (default: one per core), and
prints one JSON line ``{"pipeline_wall_s", "single_ffmpeg_wall_s", "ratio", "pipeline_cpu_s",
"single_ffmpeg_cpu_s"}``. CPU is user+system time of this process and its children (ffmpeg).

Usage: .venv/bin/python -m bench.ingest [--seconds 60] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

from origin.catalog import FAILED, READY, Catalog, TitleMeta
from origin.config import OriginConfig, PipelineSettings
from origin.ingest import ingest
from origin.jobs import JobQueue
from origin.submit import submit_source
from origin.testclip import generate_test_clip
from origin.worker import Worker


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_pipeline(config: OriginConfig, clip: Path, workers: int) -> str:
    source = config.data_dir / "upload.mp4"
    shutil.copyfile(clip, source)
    with Catalog(config.catalog_path) as catalog:
        queue = JobQueue(config.jobs_path)
        try:
            tid = submit_source(config, catalog, queue, source, "clip.mp4", "Pipeline", TitleMeta())
        finally:
            queue.close()

    def work() -> None:
        worker = Worker(config)
        try:
            # An empty queue is not the end: the next stage's jobs appear when the current one is done.
            while worker.catalog.get_title(tid).status not in (READY, FAILED):
                if worker.run_once() is None:
                    time.sleep(0.05)
        finally:
            worker.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=os.environ.get("BENCH_DIR")))
    try:
        clip = generate_test_clip(workdir / "clip.mp4", args.seconds, args.width, args.height, 24)

        single = OriginConfig(data_dir=workdir / "single")
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        ingest(single, clip, "Single")
        single_wall, single_cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0

        chunked = OriginConfig(data_dir=workdir / "pipeline", pipeline=PipelineSettings(workers=0))
        chunked.data_dir.mkdir(parents=True)
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        tid = run_pipeline(chunked, clip, args.workers)
        with Catalog(chunked.catalog_path) as catalog:
            if catalog.get_title(tid).status != READY:
                raise SystemExit(f"pipeline failed: {catalog.meta(tid).error}")
        pipe_wall, pipe_cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0

        print(json.dumps({"pipeline_wall_s": round(pipe_wall, 2),
                          "single_ffmpeg_wall_s": round(single_wall, 2),
                          "ratio": round(pipe_wall / single_wall, 3), "pipeline_cpu_s": round(pipe_cpu, 2),
                          "single_ffmpeg_cpu_s": round(single_cpu, 2), "clip_s": args.seconds,
                          "workers": args.workers, "cores": os.cpu_count()}))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

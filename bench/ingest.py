"""Benchmark: the chunked pipeline vs one ffmpeg process encoding the same ladder of the same clip.

Generates a 60 s 1080p test clip, then, in the same run, encodes it twice:

- single: one ffmpeg process that decodes the clip once, splits and scales it into the ladder the
  pipeline plans for it, encodes every rung with the pipeline's x264 options (preset, bitrates,
  fixed GOP, keyframes forced on the same frame grid, ``-sc_threshold 0``) and the audio once
  (AAC, same bitrate), and writes HLS fMP4: what the pipeline makes, minus chunking, verifying,
  hashing and storing;
- pipeline: ``origin.ingest.ingest``, what ``streamfleet ingest`` runs: probe, the job queue with
  ``--workers`` in-process workers (prepare, one encode per chunk for every rung, audio once,
  package: join, HLS, verify, hash, store, catalog).

Prints one JSON line per run ``{"pipeline_wall_s", "single_ffmpeg_wall_s", "ratio", "pipeline_cpu_s",
"single_ffmpeg_cpu_s", ...}``; CPU is user+system time of this process and its children (ffmpeg).
With ``--runs N`` the order of the two alternates, so a neighbour's load hits both alike, and a
last line gives the median ratios.

Usage: .venv/bin/python -m bench.ingest [--seconds 60] [--workers N] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from origin.config import OriginConfig, PipelineSettings
from origin.ffmpeg import ffmpeg_exe, input_args, ladder_graph, run_ffmpeg, video_args
from origin.ingest import default_workers, ingest
from origin.ladder import plan_ladder
from origin.probe import probe_source
from origin.testclip import generate_test_clip


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measured(action: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``action``."""
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    action()
    return time.perf_counter() - wall0, cpu_seconds() - cpu0


def single_command(config: OriginConfig, clip: Path, out: Path) -> tuple[list[str], float]:
    """The one-process encode of the ladder the pipeline plans for ``clip``, and the clip's duration."""
    info = probe_source(clip)
    settings = config.ingest
    rungs = plan_ladder(settings, info.width, info.height, info.aspect)
    gop = max(1, round(info.fps * settings.segment_seconds))
    fps = f"{info.fps.numerator}/{info.fps.denominator}"
    cmd = [ffmpeg_exe(settings), "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats",
           "-progress", "pipe:1", "-y", *input_args(str(clip)), "-filter_complex", ladder_graph(rungs)]
    for i, rung in enumerate(rungs):
        cmd += ["-map", f"[v{i}]", *video_args(settings, rung, fps, gop, 0, stream=str(i))]
    # Audio encoded once, as the pipeline does: one audio rendition the video variants share.
    cmd += ["-map", "0:a:0", "-c:a", "aac", "-b:a", settings.audio_bitrate, "-ac", "2", "-map_metadata", "-1"]
    variants = " ".join(f"v:{i},agroup:audio,name:{r.name}" for i, r in enumerate(rungs))
    cmd += ["-f", "hls", "-hls_time", str(settings.segment_seconds), "-hls_playlist_type", "vod",
            "-hls_flags", "independent_segments", "-hls_segment_type", "fmp4", "-start_number", "0",
            "-hls_segment_filename", str(out / "%v" / "seg_%05d.m4s"), "-master_pl_name", "master.m3u8",
            "-var_stream_map", f"a:0,agroup:audio,name:audio {variants}", str(out / "%v" / "index.m3u8")]
    return cmd, info.duration_s


def one_run(workdir: Path, clip: Path, workers: int, single_first: bool) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    try:
        single = OriginConfig(data_dir=run_dir / "single")
        single.data_dir.mkdir(parents=True)
        cmd, duration = single_command(single, clip, single.data_dir / "hls")
        chunked = OriginConfig(data_dir=run_dir / "pipeline", pipeline=PipelineSettings(workers=0))
        chunked.data_dir.mkdir(parents=True)
        results: dict[str, tuple[float, float]] = {}
        order = ["single", "pipeline"] if single_first else ["pipeline", "single"]
        for name in order:
            if name == "single":
                results[name] = measured(lambda: run_ffmpeg(cmd, duration, single.data_dir / "ffmpeg.log"))
            else:
                results[name] = measured(lambda: ingest(chunked, clip, "Pipeline", workers=workers))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    (pipe_wall, pipe_cpu), (single_wall, single_cpu) = results["pipeline"], results["single"]
    return {"pipeline_wall_s": round(pipe_wall, 2), "single_ffmpeg_wall_s": round(single_wall, 2),
            "ratio": round(pipe_wall / single_wall, 3), "pipeline_cpu_s": round(pipe_cpu, 2),
            "single_ffmpeg_cpu_s": round(single_cpu, 2), "cpu_ratio": round(pipe_cpu / single_cpu, 3),
            "first": order[0], "workers": workers, "cores": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=os.environ.get("BENCH_DIR")))
    try:
        clip = generate_test_clip(workdir / "clip.mp4", args.seconds, args.width, args.height, 24)
        results = []
        for n in range(args.runs):
            results.append(one_run(workdir, clip, args.workers, single_first=n % 2 == 0))
            print(json.dumps({**results[-1], "clip_s": args.seconds}), flush=True)
        if args.runs > 1:
            medians = {f"median_{key}": round(statistics.median(r[key] for r in results), 3)
                       for key in ("ratio", "cpu_ratio")}
            print(json.dumps({"runs": args.runs, **medians}))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The chunked encode pipeline: prepare -> one encode per chunk (every rung) + one audio encode -> package.

Every job is idempotent (outputs appear by rename), so a job retried after its worker died simply
redoes or skips its work. Per VIDEO-NOTES: chunks are a multiple of the segment length, a chunk is
decoded once and split into every rung, keyframes sit on the absolute frame grid, audio is encoded
once for the whole file, renditions are joined with the concat demuxer (stream copy) and packaged
as HLS fMP4 (plus a DASH manifest over the same segments) with the audio as a rendition of its own,
then verified with PyAV before the title is published "ready".
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

from .catalog import FAILED, PROCESSING, READY, Catalog, FileInfo, Rendition
from .config import OriginConfig
from .errors import JobError, OriginError
from .ffmpeg import Cancel, audio_command, chunk_command, ffmpeg_exe, hls_output_args, run_ffmpeg
from .jobs import CANCELLED, DONE, Job, NewJob
from .ladder import AUDIO as AUDIO_RENDITION
from .ladder import plan_ladder
from .packaging import package, sha256_file
from .plan import Plan, damaged, too_short
from .probe import probe_source, video_frames
from .store import ObjectStore
from .submit import PREPARE
from .verify import verify_package

log = logging.getLogger(__name__)

ENCODE, AUDIO, PACKAGE = "encode", "audio", "package"
KINDS = (PREPARE, ENCODE, AUDIO, PACKAGE)
# Called with a running job and the fraction of it done (0..1); from the worker's thread.
JobProgressFn = Callable[[Job, float], None]



def job_rungs(job: Job) -> list[str]:
    """The rungs an encode job makes: ``rungs``, or ``rung`` in jobs queued by older versions."""
    names = job.payload.get("rungs")
    return [str(n) for n in names] if names else [str(job.payload["rung"])]


class Pipeline:
    """Runs one job at a time for a worker; uses the worker's catalog and object store.

    ``on_progress`` hears how far the running job is (the ingest command's progress bar).
    """

    def __init__(self, config: OriginConfig, catalog: Catalog, store: ObjectStore,
                 on_progress: JobProgressFn | None = None) -> None:
        self.config = config
        self.catalog = catalog
        self.store = store
        self.exe = ffmpeg_exe(config.ingest)
        self.on_progress = on_progress

    def work_dir(self, title: str) -> Path:
        return self.config.work_dir / title

    def run(self, job: Job, cancel: Cancel | None = None) -> list[NewJob]:
        """Do ``job``; returns the jobs that follow it. Raises OriginError/OSError when it fails
        (SourceError when retrying cannot help), JobError when ``cancel`` stopped it."""
        handler = {PREPARE: self.prepare, ENCODE: self.encode, AUDIO: self.audio, PACKAGE: self.package}
        if job.kind not in handler:
            raise JobError(f"unknown job kind {job.kind!r}")
        return handler[job.kind](job, cancel or Cancel())

    def title_failed(self, title: str, error: str) -> None:
        """A job of ``title`` ran out of attempts: mark the title failed and drop its scratch files."""
        try:
            self.catalog.set_status(title, FAILED, error[:2000])
        except OriginError:
            pass
        shutil.rmtree(self.work_dir(title), ignore_errors=True)

    def _report(self, job: Job) -> Callable[[float], None] | None:
        hook = self.on_progress
        if hook is None:
            return None
        return lambda fraction: hook(job, fraction)

    # -- jobs ------------------------------------------------------------------------------
    def prepare(self, job: Job, cancel: Cancel) -> list[NewJob]:
        source = Path(job.payload["source"])
        info = probe_source(source)
        settings = self.config.ingest
        rungs = plan_ladder(settings, info.width, info.height, info.aspect)
        gop = max(1, round(info.fps * settings.segment_seconds))
        per_chunk = max(1, math.ceil(self.config.pipeline.chunk_seconds / settings.segment_seconds))
        chunk_frames = gop * per_chunk
        total_frames = max(1, round(info.duration_s * info.fps))
        plan = Plan(str(source), f"{info.fps.numerator}/{info.fps.denominator}", info.duration_s,
                    info.has_audio, tuple(rungs), gop, chunk_frames, math.ceil(total_frames / chunk_frames))
        work = self.work_dir(job.title)
        work.mkdir(parents=True, exist_ok=True)
        _write_atomic(work / "plan.json", json.dumps(asdict(plan)))
        self.catalog.set_status(job.title, PROCESSING)
        names = [r.name for r in rungs]
        # Jobs are claimed oldest first: audio (short) first, so it never holds up the package job.
        follow = [NewJob(job.title, AUDIO, {}, stage=1)] if info.has_audio else []
        follow += [NewJob(job.title, ENCODE, {"chunk": i, "rungs": names}, stage=1)
                   for i in range(plan.chunks)]
        follow.append(NewJob(job.title, PACKAGE, {}, stage=2))
        log.info("title planned", extra={"title": job.title, "chunks": plan.chunks, "rungs": names})
        return follow

    def _plan(self, title: str) -> Plan:
        return Plan.load(self.work_dir(title) / "plan.json")

    def chunk_path(self, title: str, rung: str, index: int) -> Path:
        return self.work_dir(title) / "chunks" / rung / f"c{index:05d}.mp4"

    def encode(self, job: Job, cancel: Cancel) -> list[NewJob]:
        """Decode one chunk once and encode it into every rung of the job (one ffmpeg)."""
        plan = self._plan(job.title)
        index, names = int(job.payload["chunk"]), job_rungs(job)
        rungs = [r for r in plan.rungs if r.name in names]
        finals = [self.chunk_path(job.title, r.name, index) for r in rungs]
        if all(f.exists() for f in finals):
            return []
        tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmps = [f.with_name(f".{f.stem}-{tag}.mp4") for f in finals]
        for final in finals:
            final.parent.mkdir(parents=True, exist_ok=True)
        fps = Fraction(plan.fps)
        first = index * plan.chunk_frames
        frames = min(plan.chunk_frames, plan.total_frames - first)
        # Half a frame of slack: the input stops on its own clock, -frames:v cuts exactly.
        length = (Fraction(plan.chunk_frames) + Fraction(1, 2)) / fps
        start = f"{float(plan.chunk_start(index)):.6f}"
        cmd = chunk_command(self.exe, plan.source, start, f"{float(length):.6f}", plan.chunk_frames, first,
                            plan.fps, plan.gop, rungs, self.config.ingest, tmps)
        log_path = finals[0].parent.parent / f".c{index:05d}-{tag}.log"
        try:
            report = run_ffmpeg(cmd, frames / float(fps), log_path, self._report(job), die_with_parent=True,
                                cancel=cancel)
            made = report.get("frame", "")
            if made.isdigit() and too_short(int(made) / float(fps), frames / float(fps)):
                raise damaged((first + int(made)) / float(fps), plan.duration_s)
            # Scratch files: not fsynced (the published objects are); a lost chunk is encoded again.
            for tmp, final in zip(tmps, finals, strict=True):
                os.replace(tmp, final)
        finally:
            for leftover in (*tmps, log_path):
                leftover.unlink(missing_ok=True)
        return []

    def audio(self, job: Job, cancel: Cancel) -> list[NewJob]:
        plan = self._plan(job.title)
        final = self.work_dir(job.title) / "audio.m4a"
        if final.exists():
            return []
        tmp = final.with_name(f".audio-{os.getpid()}-{uuid.uuid4().hex[:8]}.m4a")
        # As long as the video the encode jobs make, so the audio rendition has its segment count.
        video_s = float(Fraction(plan.total_frames) / Fraction(plan.fps))
        cmd = audio_command(self.exe, plan.source, self.config.ingest.audio_bitrate, video_s, tmp)
        try:
            run_ffmpeg(cmd, plan.duration_s, tmp.with_suffix(".log"), die_with_parent=True, cancel=cancel)
            os.replace(tmp, final)
        finally:
            for leftover in (tmp, tmp.with_suffix(".log")):
                leftover.unlink(missing_ok=True)
        return []

    def package(self, job: Job, cancel: Cancel) -> list[NewJob]:
        if self.catalog.get_title(job.title).status == READY:
            return []  # published by an attempt whose worker died before reporting it
        plan = self._plan(job.title)
        rungs = list(plan.rungs)
        work = self.work_dir(job.title)
        report = self._report(job) or (lambda fraction: None)
        scratch = Path(tempfile.mkdtemp(prefix="package-", dir=work))
        try:
            out = scratch / "hls"
            cmd = [self.exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats",
                   "-progress", "pipe:1", "-y"]
            for rung in rungs:
                listing = scratch / f"{rung.name}.txt"
                # Absolute paths: relative ones would resolve against the list file's folder.
                listing.write_text("".join(f"file '{self.chunk_path(job.title, rung.name, i).resolve()}'\n"
                                           for i in range(plan.chunks)))
                cmd += ["-f", "concat", "-safe", "0", "-i", str(listing)]
                (out / rung.name).mkdir(parents=True)
            if plan.has_audio:
                # Cut where the video really ends: a source's audio may outlast its video.
                chunks = [self.chunk_path(job.title, rungs[0].name, i) for i in range(plan.chunks)]
                video_s = sum(video_frames(c) for c in chunks) / Fraction(plan.fps)
                cmd += ["-t", f"{float(video_s):.6f}", "-i", str(work / "audio.m4a")]
            cmd += [arg for i in range(len(rungs)) for arg in ("-map", f"{i}:v:0")]
            if plan.has_audio:
                cmd += ["-map", f"{len(rungs)}:a:0"]  # once: one audio rendition, not one per rung
            cmd += ["-c", "copy", "-map_metadata", "-1"]
            cmd += hls_output_args(self.config.ingest, rungs, out, plan.has_audio)
            run_ffmpeg(cmd, plan.duration_s, scratch / "ffmpeg.log", lambda f: report(0.3 * f),
                       die_with_parent=True, cancel=cancel)
            pkg = package(out, job.title, rungs, Fraction(plan.fps), plan.has_audio)
            if too_short(pkg.duration_s, plan.duration_s):
                raise damaged(pkg.duration_s, plan.duration_s)
            verify_package(pkg)
            report(0.4)
            infos = []
            ordered = sorted(pkg.files.items(), key=lambda kv: kv[0].cache_key)
            for n, (key, path) in enumerate(ordered):
                cancel.check()
                size, digest = sha256_file(path)
                self.store.move_file(key, path)
                infos.append(FileInfo(key.cache_key, size, digest))
                report(0.4 + 0.6 * (n + 1) / len(ordered))
            cancel.check()
            renditions = [Rendition(r.rung.name, r.rung.width, r.rung.height, r.bandwidth)
                          for r in pkg.renditions]
            if pkg.audio is not None:
                # No picture: width and height 0 tell consumers it is not a video rung.
                renditions.append(Rendition(AUDIO_RENDITION, 0, 0, pkg.audio.bandwidth))
            self.catalog.publish_title(job.title, pkg.duration_s, renditions, infos)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        log.info("title ready", extra={"title": job.title, "files": len(infos)})
        return []


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, path)


def progress(jobs: list[Job]) -> dict[str, Any]:
    """The ``progress`` object of a title from its jobs: stage, per-rendition chunks, errors."""
    if not jobs:
        return {}
    renditions: dict[str, dict[str, int]] = {}
    states = {kind: [j.state for j in jobs if j.kind == kind] for kind in KINDS}
    for j in jobs:
        if j.kind == ENCODE:
            for name in job_rungs(j):
                entry = renditions.setdefault(name, {"chunks_done": 0, "chunks": 0})
                entry["chunks"] += 1
                entry["chunks_done"] += j.state == DONE
    errors = [{"kind": j.kind, "attempts": j.attempts, "error": j.error} for j in jobs if j.error]
    if any(j.state == "failed" for j in jobs):
        stage = "failed"
    elif any(s != DONE for s in states[PREPARE]) or not states[PACKAGE]:
        stage = "preparing"
    elif any(s not in (DONE, CANCELLED) for s in states[ENCODE] + states[AUDIO]):
        stage = "encoding"
    elif any(s != DONE for s in states[PACKAGE]):
        stage = "packaging"
    else:
        stage = "done"
    out: dict[str, Any] = {"stage": stage, "renditions": {
        name: {**e, "percent": round(100 * e["chunks_done"] / e["chunks"], 1)}
        for name, e in renditions.items()}}
    if states[AUDIO]:
        out["audio"] = states[AUDIO][-1]
    if errors:
        out["errors"] = errors[-5:]
    return out

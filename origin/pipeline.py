"""The chunked encode pipeline: prepare -> (chunk, rendition) encodes + one audio encode -> package.

Every job is idempotent (outputs appear by rename), so a job retried after its worker died simply
redoes or skips its work. Per VIDEO-NOTES: chunks are a multiple of the segment length, keyframes
sit on the absolute frame grid, audio is encoded once for the whole file, renditions are joined
with the concat demuxer (stream copy) and packaged as HLS fMP4, then verified with PyAV before the
title is published "ready".
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .catalog import FAILED, PROCESSING, READY, Catalog, FileInfo, Rendition
from .config import OriginConfig
from .errors import IngestError, JobError, OriginError
from .ffmpeg import ffmpeg_exe, hls_output_args, run_ffmpeg
from .ingest import sha256_file
from .jobs import CANCELLED, DONE, Job, NewJob
from .ladder import Rung, plan_ladder
from .packaging import package
from .probe import probe_source
from .store import ObjectStore
from .submit import PREPARE
from .verify import verify_package

log = logging.getLogger(__name__)

ENCODE, AUDIO, PACKAGE = "encode", "audio", "package"
KINDS = (PREPARE, ENCODE, AUDIO, PACKAGE)


@dataclass(frozen=True)
class Plan:
    """How a title is cut and encoded; written by ``prepare`` as plan.json in its work dir."""

    source: str
    fps: str  # a Fraction as "num/den"
    duration_s: float
    has_audio: bool
    rungs: tuple[Rung, ...]
    gop: int  # frames per segment
    chunk_frames: int  # frames per chunk (a multiple of gop)
    chunks: int

    def chunk_start(self, index: int) -> Fraction:
        return Fraction(index * self.chunk_frames) / Fraction(self.fps)

    @staticmethod
    def load(path: Path) -> Plan:
        data = json.loads(path.read_text())
        data["rungs"] = tuple(Rung(**r) for r in data["rungs"])
        return Plan(**data)


class Pipeline:
    """Runs one job at a time for a worker; uses the worker's catalog and object store."""

    def __init__(self, config: OriginConfig, catalog: Catalog, store: ObjectStore) -> None:
        self.config = config
        self.catalog = catalog
        self.store = store
        self.exe = ffmpeg_exe(config.ingest)

    def work_dir(self, title: str) -> Path:
        return self.config.work_dir / title

    def run(self, job: Job) -> list[NewJob]:
        """Do ``job``; returns the jobs that follow it. Raises OriginError/OSError when it fails."""
        handler = {PREPARE: self.prepare, ENCODE: self.encode, AUDIO: self.audio, PACKAGE: self.package}
        if job.kind not in handler:
            raise JobError(f"unknown job kind {job.kind!r}")
        return handler[job.kind](job)

    def title_failed(self, title: str, error: str) -> None:
        """A job of ``title`` ran out of attempts: mark the title failed and drop its scratch files."""
        try:
            self.catalog.set_status(title, FAILED, error[:2000])
        except OriginError:
            pass
        shutil.rmtree(self.work_dir(title), ignore_errors=True)

    # -- jobs ------------------------------------------------------------------------------
    def prepare(self, job: Job) -> list[NewJob]:
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
        follow = [NewJob(job.title, ENCODE, {"chunk": i, "rung": r.name}, stage=1)
                  for r in rungs for i in range(plan.chunks)]
        if info.has_audio:
            follow.append(NewJob(job.title, AUDIO, {}, stage=1))
        follow.append(NewJob(job.title, PACKAGE, {}, stage=2))
        log.info("title planned", extra={"title": job.title, "chunks": plan.chunks,
                                         "rungs": [r.name for r in rungs]})
        return follow

    def _plan(self, title: str) -> Plan:
        return Plan.load(self.work_dir(title) / "plan.json")

    def chunk_path(self, title: str, rung: str, index: int) -> Path:
        return self.work_dir(title) / "chunks" / rung / f"c{index:05d}.mp4"

    def encode(self, job: Job) -> list[NewJob]:
        plan = self._plan(job.title)
        index, rung_name = int(job.payload["chunk"]), str(job.payload["rung"])
        rung = next(r for r in plan.rungs if r.name == rung_name)
        final = self.chunk_path(job.title, rung_name, index)
        if final.exists():
            return []
        final.parent.mkdir(parents=True, exist_ok=True)
        first = index * plan.chunk_frames
        settings = self.config.ingest
        tmp = final.with_name(f".{final.stem}-{os.getpid()}.mp4")
        # Input-side seek for an exact chunk start; keyframes forced on the absolute frame grid.
        cmd = [self.exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:1",
               "-y", "-ss", f"{float(plan.chunk_start(index)):.6f}", "-i", plan.source,
               "-map", "0:v:0", "-an", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
               "-vf", f"scale={rung.width}:{rung.height},setsar=1,format=yuv420p",
               "-fps_mode", "cfr", "-r", plan.fps, "-frames:v", str(plan.chunk_frames),
               "-c:v", "libx264", "-preset", settings.preset, "-sc_threshold", "0",
               "-g", str(plan.gop), "-keyint_min", str(plan.gop),
               "-force_key_frames", f"expr:eq(mod(n+{first},{plan.gop}),0)",
               "-b:v", str(rung.bitrate), "-maxrate", str(rung.maxrate), "-bufsize", str(rung.bufsize),
               "-f", "mp4", str(tmp)]
        self._ffmpeg(cmd, tmp, final, plan.chunk_frames / float(Fraction(plan.fps)))
        return []

    def audio(self, job: Job) -> list[NewJob]:
        plan = self._plan(job.title)
        final = self.work_dir(job.title) / "audio.m4a"
        if final.exists():
            return []
        tmp = final.with_name(f".audio-{os.getpid()}.m4a")
        cmd = [self.exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:1",
               "-y", "-i", plan.source, "-map", "0:a:0", "-vn", "-map_metadata", "-1",
               "-c:a", "aac", "-b:a", self.config.ingest.audio_bitrate, "-ac", "2", "-f", "mp4", str(tmp)]
        self._ffmpeg(cmd, tmp, final, plan.duration_s)
        return []

    def _ffmpeg(self, cmd: list[str], tmp: Path, final: Path, duration_s: float) -> None:
        try:
            run_ffmpeg(cmd, duration_s, tmp.with_suffix(".log"), die_with_parent=True)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        finally:
            for leftover in (tmp, tmp.with_suffix(".log")):
                leftover.unlink(missing_ok=True)

    def package(self, job: Job) -> list[NewJob]:
        if self.catalog.get_title(job.title).status == READY:
            return []  # published by an attempt whose worker died before reporting it
        plan = self._plan(job.title)
        rungs = list(plan.rungs)
        work = self.work_dir(job.title)
        scratch = Path(tempfile.mkdtemp(prefix="package-", dir=work))
        try:
            out = scratch / "hls"
            cmd = [self.exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-y"]
            for rung in rungs:
                listing = scratch / f"{rung.name}.txt"
                # Absolute paths: relative ones would resolve against the list file's folder.
                listing.write_text("".join(f"file '{self.chunk_path(job.title, rung.name, i).resolve()}'\n"
                                           for i in range(plan.chunks)))
                cmd += ["-f", "concat", "-safe", "0", "-i", str(listing)]
                (out / rung.name).mkdir(parents=True)
            if plan.has_audio:
                cmd += ["-i", str(work / "audio.m4a")]
            for i in range(len(rungs)):
                cmd += ["-map", f"{i}:v:0"] + (["-map", f"{len(rungs)}:a:0"] if plan.has_audio else [])
            cmd += ["-c", "copy", "-map_metadata", "-1"]
            cmd += hls_output_args(self.config.ingest, rungs, out, plan.has_audio)
            run_ffmpeg(cmd, plan.duration_s, scratch / "ffmpeg.log", die_with_parent=True)
            pkg = package(out, job.title, rungs, Fraction(plan.fps), plan.has_audio)
            if plan.duration_s - pkg.duration_s > max(1.0, 0.05 * plan.duration_s):
                raise IngestError(f"only {pkg.duration_s:.1f} s of {plan.duration_s:.1f} s were encoded")
            verify_package(pkg)
            infos = []
            for key, path in sorted(pkg.files.items(), key=lambda kv: kv[0].cache_key):
                size, digest = sha256_file(path)
                self.store.move_file(key, path)
                infos.append(FileInfo(key.cache_key, size, digest))
            self.catalog.publish_title(job.title, pkg.duration_s,
                                       [Rendition(r.rung.name, r.rung.width, r.rung.height, r.bandwidth)
                                        for r in pkg.renditions], infos)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        log.info("title ready", extra={"title": job.title, "files": len(infos)})
        return []


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
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
            entry = renditions.setdefault(str(j.payload["rung"]), {"chunks_done": 0, "chunks": 0})
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

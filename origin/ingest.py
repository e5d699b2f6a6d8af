"""Ingest a file through the pipeline, in this process: queue its jobs, run workers, block until ready.

The ``streamfleet ingest`` command. The title goes through the same job queue as uploads (prepare,
one encode per chunk, audio, package; see origin.pipeline), run by worker threads of this process
that take only this title's jobs; other workers sharing the queue may help. All or nothing: the
title becomes visible ("ready") only after every file is stored and catalogued; on any failure (or
Ctrl-C/SIGTERM) its objects, catalog rows, jobs and scratch files are removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import FAILED, QUEUED, READY, Catalog, Rendition
from .config import OriginConfig
from .db import open_databases
from .errors import IngestError, OriginError, TitleExists
from .ffmpeg import ProgressFn
from .jobs import DONE, Job, JobQueue, NewJob
from .jobs import FAILED as JOB_FAILED
from .pipeline import ENCODE, PACKAGE
from .plan import source_problem
from .probe import probe_source
from .store import open_object_store
from .submit import PREPARE, title_id_for
from .worker import Worker

log = logging.getLogger(__name__)

# Share of the progress bar spent encoding chunks; the rest is packaging, verifying and storing.
ENCODE_SHARE = 0.9
# How often the waiting thread and idle workers look at the queue for jobs other workers finished
# (the jobs this process finishes wake them at once).
POLL_S = 1.0

__all__ = ["IngestResult", "default_workers", "delete_title", "ingest", "title_id_for"]


@dataclass(frozen=True)
class IngestResult:
    title: str
    name: str
    renditions: tuple[Rendition, ...]
    # Media segments per rendition (every rendition has the same number).
    segments: int
    duration_s: float
    files: int
    bytes: int

    def summary(self) -> dict[str, Any]:
        """The CLI's one-line JSON result."""
        return {"title": self.title, "renditions": [r.name for r in self.renditions],
                "segments": self.segments, "duration_s": self.duration_s}


def default_workers() -> int:
    """Worker threads for one ingest: each chunk's ffmpeg already uses every core, a second worker
    overlaps the serial parts (start-up, audio, the last chunk's tail)."""
    return max(2, (os.cpu_count() or 2) // 2)


class _Tracker:
    """Folds the title's jobs and the running jobs' own progress into one rising fraction."""

    def __init__(self, report: ProgressFn) -> None:
        self._report = report
        self._lock = threading.Lock()
        self._jobs: list[Job] = []
        self._running: dict[int, float] = {}
        self._shown = 0.0

    def jobs(self, jobs: list[Job]) -> None:
        with self._lock:
            self._jobs = jobs
            self._emit()

    def job_progress(self, job: Job, fraction: float) -> None:
        with self._lock:
            self._running[job.id] = fraction
            self._emit()

    def _done(self, job: Job) -> float:
        return 1.0 if job.state == DONE else self._running.get(job.id, 0.0)

    def _emit(self) -> None:
        chunks = [j for j in self._jobs if j.kind == ENCODE]
        encoded = sum(self._done(j) for j in chunks) / len(chunks) if chunks else 0.0
        packaged = max((self._done(j) for j in self._jobs if j.kind == PACKAGE), default=0.0)
        # 100% is said once, when the title is ready.
        fraction = min(0.99, ENCODE_SHARE * encoded + (1 - ENCODE_SHARE) * packaged)
        if fraction > self._shown:
            self._shown = fraction
            self._report(fraction)


def _stage_source(config: OriginConfig, source: Path, tid: str) -> Path:
    """The source under ``sources_dir`` as uploads are, so any worker sharing ``data_dir`` reads it:
    a hard link (nothing copied) when it is on the same filesystem, else a copy."""
    config.sources_dir.mkdir(parents=True, exist_ok=True)
    dest = config.sources_dir / f"{tid}.src"
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}")
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _failure(source: Path, jobs: list[Job], title_error: str) -> IngestError:
    """The error to report for a title whose jobs failed: a problem of the source first."""
    failed = sorted((j for j in jobs if j.state == JOB_FAILED),
                    key=lambda j: source_problem(j.error or "") is None)
    error = (failed[0].error if failed else "") or title_error or "a job failed"
    reason = source_problem(error)
    if reason is not None:
        return IngestError(f"cannot read {source}: {reason}")
    return IngestError(f"ingest of {source} failed: {failed[0].kind + ' job: ' if failed else ''}{error}")


class _Changes:
    """A counter of finished jobs that threads can wait on (no wake-up is lost between looking
    at the queue and waiting)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._count = 0

    def count(self) -> int:
        with self._cond:
            return self._count

    def bump(self) -> None:
        with self._cond:
            self._count += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        """Until the count moves past ``seen`` or ``timeout`` seconds pass."""
        with self._cond:
            self._cond.wait_for(lambda: self._count != seen, timeout)


def _run_until_ready(config: OriginConfig, source: Path, tid: str, queue: JobQueue, catalog: Catalog,
                     tracker: _Tracker, workers: int, clock: Callable[[], float]) -> None:
    """Run ``workers`` worker threads on the title's jobs until it is ready. Raises IngestError when
    a job fails for good; on any exception (KeyboardInterrupt too) the workers' ffmpeg are killed
    and the threads joined before it propagates."""
    stop = threading.Event()
    changes = _Changes()
    crashed: list[BaseException] = []
    pool: list[Worker] = []
    threads: list[threading.Thread] = []

    def work(worker: Worker) -> None:
        try:
            while not stop.is_set():
                seen = changes.count()
                if worker.run_once() is None:
                    # Nothing runnable (the next stage waits for a job still running): wait for one
                    # of ours to finish, or poll again for jobs that other workers finish.
                    changes.wait(seen, POLL_S)
                else:
                    changes.bump()
        except BaseException as exc:  # e.g. the queue's database went away: the waiting thread reports it
            crashed.append(exc)
            changes.bump()

    try:
        for i in range(workers):
            pool.append(Worker(config, clock=clock, title=tid, on_progress=tracker.job_progress))
            threads.append(threading.Thread(target=work, args=(pool[-1],), name=f"ingest-{tid}-{i}",
                                            daemon=True))
            threads[-1].start()
        while True:
            seen = changes.count()
            if crashed:
                raise crashed[0]
            title = catalog.get_title(tid)
            jobs = queue.jobs(tid)
            tracker.jobs(jobs)
            if title.status == READY:
                return
            if title.status == FAILED or any(j.state == JOB_FAILED for j in jobs):
                raise _failure(source, jobs, catalog.meta(tid).error)
            changes.wait(seen, POLL_S)
    finally:
        stop.set()
        changes.bump()  # wakes idle workers, so they see ``stop``
        for worker in pool:
            worker.interrupt("ingest stopped")  # kills a running ffmpeg; nothing to do after success
        for thread in threads:
            thread.join()
        for worker in pool:
            worker.close()


def ingest(
    config: OriginConfig,
    source_path: Path | str,
    title_name: str,
    title_id: str | None = None,
    progress: ProgressFn | None = None,
    clock: Callable[[], float] = time.time,
    workers: int | None = None,
) -> IngestResult:
    """Ingest ``source_path`` as a title named ``title_name`` (id derived from it when None).

    ``progress`` is called with the fraction done (0..1, rising, 1.0 last). Blocks until the title
    is ready; runs ``workers`` (default ``default_workers()``) worker threads, each running one
    ffmpeg at a time. Raises IngestError (not a video, duplicate id, encode failure...) and then
    leaves nothing behind: no objects, no catalog rows, no jobs, no scratch files.
    """
    source = Path(source_path)
    report: ProgressFn = progress or (lambda fraction: None)
    tid = title_id_for(title_name, title_id)
    info = probe_source(source)  # refuse what is not a video before anything is written
    started = time.monotonic()
    databases = open_databases([config.jobs_db, config.catalog_db])
    try:
        queue = JobQueue(databases[0], config.pipeline.max_attempts, clock)
        catalog = Catalog(databases[1], clock)
        try:
            catalog.reserve_title(tid, title_name, QUEUED)
        except TitleExists as exc:
            raise IngestError(f"{exc}; delete it first (streamfleet origin delete {tid})") from None
        log.info("ingest started", extra={"title": tid, "source": str(source), "has_audio": info.has_audio,
                                          "width": info.width, "height": info.height})
        try:
            staged = _stage_source(config, source, tid)
            queue.enqueue([NewJob(tid, PREPARE, {"source": str(staged)})])
            _run_until_ready(config, source, tid, queue, catalog, _Tracker(report),
                             workers or default_workers(), clock)
            detail = catalog.detail(tid)
        except BaseException as exc:
            # Also on KeyboardInterrupt: a half-ingested title must not survive.
            delete_title(config, tid)
            log.warning("ingest failed", extra={"title": tid, "error": str(exc)})
            if isinstance(exc, IngestError):
                raise
            if isinstance(exc, OriginError | OSError):
                raise IngestError(f"ingest of {source} failed: {exc}") from exc
            raise
        staged.unlink(missing_ok=True)  # the title's files are what is kept, as before
    finally:
        for database in {id(d): d for d in databases}.values():
            database.close()
    first = detail.renditions[0].name
    segments = sum(1 for key in detail.files if key.startswith(f"{tid}/{first}/seg_"))
    result = IngestResult(tid, title_name, detail.renditions, segments, detail.title.duration_s,
                          len(detail.files), sum(f.size for f in detail.files.values()))
    log.info("ingest done", extra={"title": tid, "seconds": round(time.monotonic() - started, 2),
                                   "files": result.files, "bytes": result.bytes})
    report(1.0)
    return result


def delete_title(config: OriginConfig, title_id: str) -> bool:
    """Remove a title's objects, catalog rows, pipeline jobs, scratch files and source (any
    status); returns False if it had neither objects nor catalog rows."""
    tid = title_id_for(title_id, title_id)
    # Jobs first: a worker still running one loses its lease at its next heartbeat and stops.
    if config.database_url or config.jobs_path.exists():
        queue = JobQueue(config.jobs_db)
        try:
            queue.delete_title(tid)
        finally:
            queue.close()
    with Catalog(config.catalog_db) as catalog:
        removed_rows = catalog.delete_title(tid)
    with contextlib.closing(open_object_store(config.object_store_url, config.objects_dir)) as store:
        removed_objects = store.delete_title(tid)
    shutil.rmtree(config.work_dir / tid, ignore_errors=True)
    (config.sources_dir / f"{tid}.src").unlink(missing_ok=True)
    return removed_objects or removed_rows

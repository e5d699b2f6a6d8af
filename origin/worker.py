"""A pipeline worker: claims jobs from the queue, heartbeats its lease while it runs them, reports.

Runs as its own process (``streamfleet origin worker``), as threads inside the origin server
(``[pipeline] workers``) or inside ``streamfleet ingest`` (only that title's jobs). Many workers, in
any number of processes, share one queue.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from .catalog import Catalog
from .config import OriginConfig
from .db import open_databases
from .ffmpeg import Cancel
from .jobs import FAILED, Job, JobQueue
from .pipeline import KINDS, JobProgressFn, Pipeline
from .plan import job_error
from .store import open_object_store

log = logging.getLogger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """One worker; ``run`` loops until ``stop`` is set. Not shared between threads, except
    ``interrupt``, which any thread may call.

    ``title``: claim only that title's jobs (the ingest command's in-process workers).
    ``on_progress`` hears how far the running job is.
    """

    def __init__(self, config: OriginConfig, worker_id: str | None = None,
                 clock: Callable[[], float] = time.time, title: str | None = None,
                 on_progress: JobProgressFn | None = None) -> None:
        self.config = config
        self.id = worker_id or new_worker_id()
        self.clock = clock
        self.title = title
        # One pool when the queue and the catalog share a database (PostgreSQL).
        self._databases = open_databases([config.jobs_db, config.catalog_db])
        self.queue = JobQueue(self._databases[0], config.pipeline.max_attempts, clock)
        self.catalog = Catalog(self._databases[1], clock)
        self.store = open_object_store(config.object_store_url, config.objects_dir)
        self.pipeline = Pipeline(config, self.catalog, self.store, on_progress)
        self._lock = threading.Lock()
        self._cancel: Cancel | None = None
        self._interrupted = ""

    def close(self) -> None:
        for database in {id(d): d for d in self._databases}.values():
            database.close()
        self.store.close()

    def interrupt(self, reason: str) -> None:
        """Stop the running job now (its ffmpeg is killed, the attempt fails) and claim no more."""
        with self._lock:
            self._interrupted = reason
            cancel = self._cancel
        if cancel is not None:
            cancel.cancel(reason)

    def run_once(self) -> Job | None:
        """Claim and run one job; returns it, or None when the queue had nothing runnable."""
        if self._interrupted:
            return None
        lease = self.config.pipeline.lease_seconds
        job = self.queue.claim(self.id, lease, KINDS, self.title)
        if job is None:
            return None
        log.info("job started", extra={"job": job.id, "kind": job.kind, "title": job.title,
                                       "attempt": job.attempts, "worker": self.id})
        cancel = Cancel()
        with self._lock:
            self._cancel = cancel
            if self._interrupted:
                cancel.cancel(self._interrupted)
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, done, cancel), daemon=True,
                                name=f"heartbeat-{job.id}")
        beat.start()
        try:
            follow_ups = self.pipeline.run(job, cancel)
        except Exception as exc:  # every failure is recorded on the job; the queue decides on retries
            done.set()
            beat.join()
            # A damaged source stays damaged: such a job fails now instead of being retried.
            error, retry = job_error(exc)
            state = self.queue.fail(job.id, self.id, error, retry)
            log.warning("job failed", extra={"job": job.id, "kind": job.kind, "title": job.title,
                                             "error": error, "state": state})
            if state == FAILED:
                self.pipeline.title_failed(job.title, f"{job.kind} job failed: {error}")
            return job
        except BaseException:
            done.set()
            beat.join()
            raise
        finally:
            with self._lock:
                self._cancel = None
        done.set()
        beat.join()
        if not self.queue.complete(job.id, self.id, follow_ups):
            log.warning("job finished after its lease was lost", extra={"job": job.id, "worker": self.id})
        return job

    def _heartbeat(self, job: Job, done: threading.Event, cancel: Cancel) -> None:
        lease = self.config.pipeline.lease_seconds
        while not done.wait(lease / 3):
            try:
                held = self.queue.heartbeat(job.id, self.id, lease)
            except Exception:  # a database hiccup: the next beat may get through before the lease ends
                log.exception("heartbeat failed", extra={"job": job.id, "worker": self.id})
                continue
            if not held:
                # Another worker has the job now (or the title was deleted): stop duplicating it.
                log.warning("lease lost", extra={"job": job.id, "worker": self.id})
                cancel.cancel("lease lost")
                return

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set (finishing the current job first)."""
        while not stop.is_set():
            try:
                job = self.run_once()
            except Exception:  # a broken database must not kill the worker loop silently
                log.exception("worker error", extra={"worker": self.id})
                job = None
            if job is None:
                stop.wait(self.config.pipeline.poll_seconds)


class WorkerPool:
    """``n`` worker threads in this process (the server's in-process workers)."""

    def __init__(self, config: OriginConfig, n: int) -> None:
        self.config = config
        self.n = n
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def _run_one(self) -> None:
        worker = Worker(self.config)
        try:
            worker.run(self.stop)
        finally:
            worker.close()

    def start(self) -> None:
        for i in range(self.n):
            thread = threading.Thread(target=self._run_one, name=f"origin-worker-{i}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def close(self, timeout: float = 30.0) -> None:
        """Ask the workers to stop after their current job and wait for them."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)

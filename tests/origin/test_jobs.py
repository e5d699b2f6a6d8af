"""The job queue on SQLite and PostgreSQL: stages, leases that expire, retries, failure after max
attempts, and workers racing for jobs (each job leased once; stage promotion never lost)."""

from __future__ import annotations

import threading
from pathlib import Path

from origin.jobs import CANCELLED, DONE, FAILED, LEASED, QUEUED, WAITING, JobQueue, NewJob


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_stages_run_in_order(db_target: Path | str) -> None:
    queue = JobQueue(db_target)
    [first] = queue.enqueue([NewJob("film", "prepare", {"x": 1})])
    job = queue.claim("w1", 30)
    assert job is not None and job.id == first and job.payload == {"x": 1} and job.attempts == 1
    assert queue.claim("w2", 30) is None  # leased
    follow = [NewJob("film", "encode", {"chunk": i}, stage=1) for i in range(2)]
    follow.append(NewJob("film", "package", {}, stage=2))
    assert queue.complete(job.id, "w1", follow)
    assert [j.state for j in queue.jobs("film")] == [DONE, QUEUED, QUEUED, WAITING]
    a, b = queue.claim("w1", 30), queue.claim("w2", 30)
    assert a is not None and b is not None and {a.payload["chunk"], b.payload["chunk"]} == {0, 1}
    assert queue.claim("w3", 30) is None  # the package job waits for both
    assert queue.complete(a.id, "w1")
    assert queue.get(queue.jobs("film")[-1].id).state == WAITING  # type: ignore[union-attr]
    assert queue.complete(b.id, "w2")
    last = queue.claim("w3", 30)
    assert last is not None and last.kind == "package"
    queue.close()


def test_lost_lease_is_retried_by_another_worker(db_target: Path | str) -> None:
    clock = Clock()
    queue = JobQueue(db_target, max_attempts=3, clock=clock)
    queue.enqueue([NewJob("film", "encode", {})])
    job = queue.claim("dead", 10)
    assert job is not None
    clock.now += 5
    assert queue.heartbeat(job.id, "dead", 10)  # extended to now + 10
    clock.now += 9
    assert queue.claim("alive", 10) is None
    clock.now += 2  # no heartbeat: the lease ran out
    retried = queue.claim("alive", 10)
    assert retried is not None and retried.id == job.id
    assert retried.attempts == 2 and retried.worker == "alive"
    assert not queue.heartbeat(job.id, "dead", 10)  # the dead worker lost it
    assert not queue.complete(job.id, "dead")
    assert queue.complete(job.id, "alive")
    queue.close()


def test_failures_retry_then_fail_and_cancel_the_rest(db_target: Path | str) -> None:
    clock = Clock()
    queue = JobQueue(db_target, max_attempts=2, clock=clock)
    queue.enqueue([NewJob("film", "encode", {}, stage=1), NewJob("film", "package", {}, stage=2),
                   NewJob("other", "encode", {})])
    job = queue.claim("w", 10)
    assert job is not None and job.title == "film"
    assert queue.fail(job.id, "w", "ffmpeg exploded") == QUEUED
    again = queue.claim("w", 10)
    assert again is not None and again.id == job.id and again.error == "ffmpeg exploded"
    assert queue.fail(again.id, "w", "ffmpeg exploded twice") == FAILED
    states = [(j.kind, j.state, j.error) for j in queue.jobs("film")]
    assert states == [("encode", FAILED, "ffmpeg exploded twice"), ("package", CANCELLED, None)]
    assert [j.state for j in queue.jobs("other")] == [QUEUED]  # other titles are unaffected
    queue.close()


def test_worker_lost_too_often_fails_the_job(db_target: Path | str) -> None:
    clock = Clock()
    queue = JobQueue(db_target, max_attempts=1, clock=clock)
    queue.enqueue([NewJob("film", "encode", {})])
    job = queue.claim("w1", 10)
    assert job is not None and job.state == LEASED
    clock.now += 11
    assert queue.claim("w2", 10) is None
    [failed] = queue.jobs("film")
    assert failed.state == FAILED and "stopped heartbeating" in (failed.error or "")
    assert queue.delete_title("film") == 1
    queue.close()


def test_racing_workers_lease_each_job_once(db_target: Path | str) -> None:
    setup = JobQueue(db_target)
    ids = setup.enqueue([NewJob(f"t{i % 5}", "encode", {"n": i}) for i in range(40)])
    setup.close()
    claimed: list[tuple[str, int]] = []
    barrier = threading.Barrier(6)

    def work(name: str) -> None:
        queue = JobQueue(db_target)
        barrier.wait()
        while (job := queue.claim(name, 60)) is not None:
            claimed.append((name, job.id))
            assert queue.complete(job.id, name)
        queue.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(job for _, job in claimed) == sorted(ids)  # every job once, none twice
    check = JobQueue(db_target)
    assert {j.state for t in range(5) for j in check.jobs(f"t{t}")} == {DONE}
    check.close()


def test_concurrent_completions_still_promote_the_next_stage(db_target: Path | str) -> None:
    for round_ in range(5):
        title = f"film{round_}"
        queue = JobQueue(db_target)
        queue.enqueue([NewJob(title, "encode", {"c": i}, stage=1) for i in range(4)]
                      + [NewJob(title, "package", {}, stage=2)])
        leased = [queue.claim(f"w{i}", 60, ["encode"]) for i in range(4)]
        queue.close()
        barrier = threading.Barrier(4)

        def finish(job_id: int, worker: str, barrier: threading.Barrier = barrier) -> None:
            q = JobQueue(db_target)
            barrier.wait()
            assert q.complete(job_id, worker)
            q.close()

        threads = [threading.Thread(target=finish, args=(j.id, j.worker)) for j in leased if j is not None]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        check = JobQueue(db_target)
        assert [j.state for j in check.jobs(title)] == [DONE] * 4 + [QUEUED], "the package job was not queued"
        check.close()


def test_claim_for_one_title_and_failing_without_retry(db_target: Path | str) -> None:
    queue = JobQueue(db_target, max_attempts=3)
    queue.enqueue([NewJob("other", "encode", {}), NewJob("film", "encode", {}), NewJob("film", "audio", {})])
    job = queue.claim("ingest", 30, title="film")
    assert job is not None and job.title == "film" and job.kind == "encode"  # "other" is older, not ours
    # A failure another attempt cannot fix (a damaged source): failed at once, the rest cancelled.
    assert queue.fail(job.id, "ingest", "unusable source: truncated", retry=False) == FAILED
    assert [(j.kind, j.state, j.attempts) for j in queue.jobs("film")] == [
        ("encode", FAILED, 1), ("audio", CANCELLED, 0)]
    assert queue.claim("ingest", 30, title="film") is None
    other = queue.claim("any", 30)
    assert other is not None and other.title == "other"
    queue.close()

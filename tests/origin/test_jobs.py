"""The SQLite job queue: stages, leases that expire, retries, failure after max attempts."""

from __future__ import annotations

from pathlib import Path

from origin.jobs import CANCELLED, DONE, FAILED, LEASED, QUEUED, WAITING, JobQueue, NewJob


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_stages_run_in_order(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.sqlite3")
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


def test_lost_lease_is_retried_by_another_worker(tmp_path: Path) -> None:
    clock = Clock()
    queue = JobQueue(tmp_path / "q.sqlite3", max_attempts=3, clock=clock)
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


def test_failures_retry_then_fail_and_cancel_the_rest(tmp_path: Path) -> None:
    clock = Clock()
    queue = JobQueue(tmp_path / "q.sqlite3", max_attempts=2, clock=clock)
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


def test_worker_lost_too_often_fails_the_job(tmp_path: Path) -> None:
    clock = Clock()
    queue = JobQueue(tmp_path / "q.sqlite3", max_attempts=1, clock=clock)
    queue.enqueue([NewJob("film", "encode", {})])
    job = queue.claim("w1", 10)
    assert job is not None and job.state == LEASED
    clock.now += 11
    assert queue.claim("w2", 10) is None
    [failed] = queue.jobs("film")
    assert failed.state == FAILED and "stopped heartbeating" in (failed.error or "")
    assert queue.delete_title("film") == 1

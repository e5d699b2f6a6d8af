"""Login failure counting in the accounts database (SQLite and PostgreSQL): a sliding window per
key, shared by every limiter on the same database, and a table that cannot grow without bound."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from origin.db import Database
from origin.ratelimit import FailureLimiter, subject


@pytest.fixture
def db(db_target: Path | str) -> Iterator[Database]:
    database = Database(db_target)
    database.upgrade("accounts@head")
    yield database
    database.close()


def test_window_slides_with_the_clock(db: Database) -> None:
    now = [0.0]
    limiter = FailureLimiter(db, 60, clock=lambda: now[0])
    for t in (0.0, 10.0, 20.0):
        now[0] = t
        assert limiter.retry_after({"a": 3}) == 0
        limiter.record_failure({"a": 3})
    assert limiter.retry_after({"a": 3}) == 40.0  # the first failure ages out at t=60
    assert limiter.retry_after({"b": 3}) == 0
    assert limiter.retry_after({"a": 4}) == 0  # a higher limit is not reached yet
    now[0] = 60.0
    assert limiter.retry_after({"a": 3}) == 0
    limiter.record_failure({"a": 3})
    assert limiter.retry_after({"a": 3}) == 10.0
    limiter.reset("a")
    assert limiter.retry_after({"a": 3}) == 0


def test_the_longest_wait_of_all_keys_counts(db: Database) -> None:
    now = [100.0]
    limiter = FailureLimiter(db, 60, clock=lambda: now[0])
    limiter.record_failure({"account:x": 1, "ip:1": 2})
    now[0] = 130.0
    limiter.record_failure({"account:y": 1, "ip:1": 2})
    assert limiter.retry_after({"account:x": 1, "ip:9": 2}) == 30.0
    assert limiter.retry_after({"account:z": 1, "ip:1": 2}) == 30.0  # ip:1 has had two
    assert limiter.retry_after({"account:y": 1, "ip:9": 2}) == 60.0
    limiter.reset("account:y")  # a success resets only its own key
    assert limiter.retry_after({"account:y": 1, "ip:1": 2}) == 30.0


def test_limiters_on_one_database_share_their_counts(db: Database, db_target: Path | str) -> None:
    # Two origin copies: each opens the database itself.
    other = Database(db_target)
    try:
        now = [5000.0]
        a = FailureLimiter(db, 300, clock=lambda: now[0])
        b = FailureLimiter(other, 300, clock=lambda: now[0])
        limits = {"account:ann": 4}
        for n in range(4):
            assert (a if n % 2 else b).retry_after(limits) == 0
            (a if n % 2 else b).record_failure(limits)
        assert a.retry_after(limits) == b.retry_after(limits) == 300.0
        b.reset("account:ann")
        assert a.retry_after(limits) == 0
    finally:
        other.close()


def test_the_table_stays_bounded(db: Database) -> None:
    now = [0.0]
    limiter = FailureLimiter(db, 60, clock=lambda: now[0])
    for n in range(50):  # one key hammered: only its newest three rows are kept
        now[0] = n * 0.1
        limiter.record_failure({"account:target": 3})
    assert limiter.count() == 3
    assert limiter.retry_after({"account:target": 3}) == pytest.approx(60 - 0.2)
    for n in range(20):  # a spray over many keys ...
        limiter.record_failure({f"ip:198.51.100.{n}": 5})
    assert limiter.count() == 23
    now[0] = 200.0  # ... is pruned by the next failure once it has left the window
    limiter.record_failure({"ip:203.0.113.1": 5})
    assert limiter.count() == 1


def test_keys_are_stored_as_digests(db: Database) -> None:
    limiter = FailureLimiter(db, 60)
    typed = "account:my secret password typed as a username"
    limiter.record_failure({typed: 5})
    [(stored,)] = db.rows("SELECT subject FROM login_failures")
    assert stored == subject(typed) and "secret" not in stored and len(stored) == 32

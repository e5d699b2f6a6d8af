from __future__ import annotations

from origin.ratelimit import FailureLimiter


def test_window_slides_with_the_clock() -> None:
    now = [0.0]
    limiter = FailureLimiter(3, 60, clock=lambda: now[0])
    for t in (0.0, 10.0, 20.0):
        now[0] = t
        assert limiter.retry_after("a") == 0
        limiter.record_failure("a")
    assert limiter.retry_after("a") == 40.0  # the first failure ages out at t=60
    assert limiter.retry_after("b") == 0
    now[0] = 60.0
    assert limiter.retry_after("a") == 0
    limiter.record_failure("a")
    assert limiter.retry_after("a") == 10.0
    limiter.reset("a")
    assert limiter.retry_after("a") == 0

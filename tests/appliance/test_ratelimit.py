"""TokenBucket: a burst, then the rate, whatever the chunk sizes; 0 means no limit (fake clock)."""

from __future__ import annotations

import asyncio

import pytest

from appliance.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_zero_rate_means_no_limit() -> None:
    bucket = TokenBucket(0, clock=FakeClock())
    assert all(bucket.reserve(10**9) == 0.0 for _ in range(100))


def test_a_burst_passes_then_reservations_wait_for_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, burst=1000, clock=clock)
    assert bucket.reserve(1000) == 0.0  # the burst
    assert bucket.reserve(500) == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.reserve(500) == pytest.approx(0.5), "the earlier debt is paid first"
    clock.now += 10
    assert bucket.reserve(800) == 0.0, "idle time refills the bucket, but only up to the burst"
    assert bucket.reserve(800) == pytest.approx(0.6)


def test_the_average_rate_holds_for_chunks_larger_than_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(25_000_000, clock=clock)  # 200 Mbit/s; burst: one second's worth

    async def main() -> float:
        start = clock.now
        for size in [4_000_000, 150_000, 30_000_000, 2_000_000] * 25:
            await bucket.acquire(size, clock.sleep)
        return clock.now - start

    elapsed = asyncio.run(main())
    total = (4_000_000 + 150_000 + 30_000_000 + 2_000_000) * 25
    # Everything beyond the initial burst went at the rate.
    assert elapsed == pytest.approx((total - 25_000_000) / 25_000_000)


def test_changing_the_rate_keeps_the_debt() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, burst=0, clock=clock)
    assert bucket.reserve(1000) == pytest.approx(1.0)
    bucket.set_rate(2000, burst=0)
    assert bucket.reserve(0) == pytest.approx(0.5), "1000 bytes owed at 2000 B/s"
    bucket.set_rate(0)
    assert bucket.reserve(10**9) == 0.0 and bucket.rate == 0
    with pytest.raises(ValueError):
        TokenBucket(-1)

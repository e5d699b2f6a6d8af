"""SingleFlight: one run per key at a time, shared by every caller, surviving a caller's exit."""

from __future__ import annotations

import asyncio

import pytest

from appliance.flight import SingleFlight


def test_concurrent_calls_share_one_run_and_later_calls_start_afresh() -> None:
    async def main() -> None:
        flight: SingleFlight[str, int] = SingleFlight()
        runs = 0
        gate = asyncio.Event()

        async def work() -> int:
            nonlocal runs
            runs += 1
            await gate.wait()
            return runs

        callers = [asyncio.create_task(flight.do("k", work)) for _ in range(50)]
        await asyncio.sleep(0.01)
        assert len(flight) == 1
        gate.set()
        assert await asyncio.gather(*callers) == [1] * 50
        assert len(flight) == 0
        assert await flight.do("k", work) == 2

    asyncio.run(main())


def test_errors_reach_every_caller_and_a_cancelled_caller_does_not_cancel_the_run() -> None:
    async def main() -> None:
        flight: SingleFlight[str, int] = SingleFlight()
        gate = asyncio.Event()

        async def failing() -> int:
            await gate.wait()
            raise ValueError("boom")

        first = asyncio.create_task(flight.do("k", failing))
        second = asyncio.create_task(flight.do("k", failing))
        await asyncio.sleep(0.01)
        first.cancel()
        await asyncio.sleep(0.01)
        gate.set()
        with pytest.raises(ValueError, match="boom"):
            await second
        assert first.cancelled()

    asyncio.run(main())

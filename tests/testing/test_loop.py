"""The virtual-time loop and the manual clock."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import sluice.testing
from sluice.testing import ManualClock, VirtualTimeLoop


def test_time_jumps_to_the_next_timer() -> None:
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        seen = []
        for delay in (30, 0.25, 3600):
            await asyncio.sleep(delay)
            seen.append(loop.time())
        return seen

    started = time.perf_counter()
    assert sluice.testing.run(scenario()) == [30.0, 30.25, 3630.25]
    assert time.perf_counter() - started < 5.0  # an hour of virtual time, not of real time


def test_timeouts_fire_at_exact_instants() -> None:
    async def scenario() -> float:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(12.5):
                await asyncio.sleep(100)
        return asyncio.get_running_loop().time()

    assert sluice.testing.run(scenario()) == 12.5


def test_start_time_and_manual_advance() -> None:
    loop = VirtualTimeLoop(start=100.0)
    try:
        assert loop.time() == 100.0
        loop.advance(5.0)
        assert loop.time() == 105.0
        with pytest.raises(ValueError, match="must be >= 0"):
            loop.advance(-1)
    finally:
        loop.close()


def test_real_work_on_threads_is_awaited_in_real_time() -> None:
    async def scenario() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        event = threading.Event()
        threading.Timer(0.05, event.set).start()
        # A timer 10 virtual seconds away must not fire before the thread is done.
        async with asyncio.timeout(10):
            await loop.run_in_executor(None, event.wait, 5.0)
        return "done", loop.time()

    result, at = sluice.testing.run(scenario())
    assert result == "done"
    assert at < 10.0


def test_manual_clock() -> None:
    clock = ManualClock(start=1.0)
    clock.advance(2.5)
    assert clock.now() == 3.5
    asyncio.run(clock.sleep(4.0))
    assert clock.now() == 7.5
    with pytest.raises(ValueError, match="must be >= 0"):
        clock.advance(-0.1)


def test_a_gate_on_a_manual_clock() -> None:
    import sluice

    clock = ManualClock()
    gate = sluice.Gate(rate=sluice.Rate(rps=1), clock=clock)

    async def scenario() -> None:
        for _ in range(3):
            await gate.run(asyncio.sleep, 0)

    asyncio.run(scenario())
    assert clock.now() == 2.0

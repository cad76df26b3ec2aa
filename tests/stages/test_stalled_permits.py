"""Callers in line for a permit are bounded by the attempt timeout when the line stops
moving (permits held by threads stuck in blocking calls), and only then."""

from __future__ import annotations

import asyncio
import threading

import pytest

import sluice


@pytest.mark.realtime
async def test_callers_are_bounded_when_every_thread_hangs() -> None:
    release = threading.Event()

    def hang() -> None:
        release.wait(30.0)  # a blocking call without a timeout of its own

    gate = sluice.Gate("io", concurrency=2, timeout=0.2)
    try:
        for _ in range(2):
            with pytest.raises(sluice.AttemptTimeout):
                await gate.run(hang)
        # Both permits stay with the stuck threads: the next caller would wait forever.
        with pytest.raises(sluice.OverloadedError, match=r"no permit came back for 0\.2s") as info:
            await asyncio.wait_for(gate.run(hang), 10.0)
        assert info.value.reason == "stalled"
        assert gate.statistics().waiting == 0
    finally:
        release.set()
        await gate.aclose()


async def test_a_long_line_that_moves_is_not_stalled() -> None:
    gate = sluice.Gate("llm", concurrency=1, timeout=1.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    results = await asyncio.gather(*(gate.run(asyncio.sleep, 0.9, i) for i in range(10)))
    assert results == list(range(10))
    assert loop.time() - start == pytest.approx(9.0)


async def test_a_calls_own_timeout_sets_its_bound() -> None:
    gate = sluice.Gate("llm", concurrency=1)  # no timeout of the gate's: no bound at all
    holder = asyncio.get_running_loop().create_task(gate.run(asyncio.sleep, 100.0))
    await asyncio.sleep(0)
    start = asyncio.get_running_loop().time()
    with pytest.raises(sluice.OverloadedError, match="for 3s"):
        await gate.options(timeout=3.0).run(asyncio.sleep, 0)
    assert asyncio.get_running_loop().time() - start == 3.0
    await holder

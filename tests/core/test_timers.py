"""The shared deadline queue behind attempt timeouts."""

from __future__ import annotations

import asyncio

import pytest

import sluice
from sluice._core.timers import DeadlineQueue
from tests.helpers import Upstream


async def test_overlapping_attempts_time_out_at_their_own_instants() -> None:
    gate = sluice.Gate(timeout=10.0)
    loop = asyncio.get_running_loop()
    ended: list[tuple[float, str]] = []

    async def call(delay_start: float, latency: float) -> None:
        await asyncio.sleep(delay_start)
        try:
            await gate.run(Upstream(latency=latency))
            ended.append((loop.time(), "ok"))
        except sluice.AttemptTimeout:
            ended.append((loop.time(), "timeout"))

    await asyncio.gather(call(0.0, 50), call(1.0, 3), call(2.5, 50), call(4.0, 9.5))
    assert sorted(ended) == [(4.0, "ok"), (10.0, "timeout"), (12.5, "timeout"), (13.5, "ok")]


async def test_finished_entries_behind_a_hung_call_do_not_pile_up() -> None:
    gate = sluice.Gate(timeout=1000.0)
    hung = asyncio.create_task(gate.run(Upstream(latency=900.0)))
    await asyncio.sleep(0)
    for _ in range(5000):
        await gate.run(Upstream())
    assert len(gate._kernel.attempts.timers._entries) < 200  # compacted, not 5001 entries
    assert len(gate._kernel.attempts.timers) == 1
    await hung


async def test_a_call_that_absorbs_the_timeout_keeps_its_result_and_the_task_is_uncancelled() -> (
    None
):
    async def stubborn() -> str:
        try:
            await asyncio.sleep(50.0)
        except asyncio.CancelledError:
            return "finished anyway"
        return "not reached"

    gate = sluice.Gate(timeout=5.0)
    assert await gate.run(stubborn) == "finished anyway"
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_outside_cancellation_is_not_turned_into_a_timeout() -> None:
    gate = sluice.Gate(timeout=5.0)
    task = asyncio.create_task(gate.run(Upstream(latency=50.0)))
    await asyncio.sleep(2.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gate.statistics().timeouts == 0


def test_a_gate_used_from_two_loops_at_once_falls_back_to_private_timers() -> None:
    gate = sluice.Gate(timeout=5.0)
    other = asyncio.new_event_loop()
    try:
        pending = other.create_task(gate.run(Upstream(latency=3600.0)))
        other.run_until_complete(asyncio.sleep(0))
        assert len(gate._kernel.attempts.timers) == 1  # the queue now belongs to `other`

        async def on_a_second_loop() -> float:
            with pytest.raises(sluice.AttemptTimeout):
                await gate.run(Upstream(latency=3600.0))
            return asyncio.get_running_loop().time()

        assert sluice.testing.run(on_a_second_loop()) == 5.0
        pending.cancel()
        other.run_until_complete(asyncio.gather(pending, return_exceptions=True))
    finally:
        other.close()


def test_out_of_order_deadlines_are_refused() -> None:
    queue = DeadlineQueue()

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        first = queue.start(loop, 10.0, task)
        assert first is not None
        assert queue.start(loop, 5.0, task) is None
        queue.finish(first)
        queue.finish(first)  # twice is harmless
        assert len(queue) == 0

    sluice.testing.run(scenario())

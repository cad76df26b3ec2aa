"""A call made on a gate from inside a call of the same gate: it never queues behind its own
caller's permit (which would hang), and the gate still never runs more than its limit."""

from __future__ import annotations

import asyncio

import pytest

import sluice


class Probe:
    """Counts the work running at once (outer calls waiting on nested ones do not work)."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0

    async def work(self, value: int) -> int:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(1.0)
        finally:
            self.running -= 1
        return value


def settled(gate: sluice.Gate) -> bool:
    stats = gate.statistics()
    return (stats.in_flight, stats.waiting) == (0, 0)


async def test_map_over_calls_that_call_the_gate_again_completes() -> None:
    probe = Probe()
    gate = sluice.Gate("llm", concurrency=2)

    async def outer(item: int) -> int:
        return await gate.run(probe.work, item * 10)

    assert await asyncio.wait_for(gate.map(outer, range(4)), 60) == [0, 10, 20, 30]
    assert probe.most == 2
    assert settled(gate)


async def test_a_fan_out_inside_a_call_shares_the_callers_permit() -> None:
    probe = Probe()
    gate = sluice.Gate("llm", concurrency=2)

    async def outer(item: int) -> list[int]:
        return await gate.map(probe.work, [item, item + 1, item + 2])

    results = await asyncio.wait_for(gate.map(outer, [0, 10, 20]), 60)
    assert settled(gate)
    assert results == [[0, 1, 2], [10, 11, 12], [20, 21, 22]]
    # Two outer calls hold the two permits; each lends its own to one nested call at a time.
    assert probe.most == 2


async def test_nesting_goes_as_deep_as_the_code_does() -> None:
    gate = sluice.Gate("llm", concurrency=1)

    async def level(depth: int) -> int:
        if depth == 0:
            return 0
        return 1 + await gate.run(level, depth - 1)

    assert await asyncio.wait_for(gate.run(level, 5), 60) == 5


async def test_siblings_nested_in_one_call_take_turns_on_its_permit() -> None:
    gate = sluice.Gate("llm", concurrency=1)
    order: list[str] = []

    async def step(name: str) -> str:
        order.append(f"{name} in")
        await asyncio.sleep(1.0)
        order.append(f"{name} out")
        return name

    async def outer() -> list[str]:
        return list(await asyncio.gather(gate.run(step, "a"), gate.run(step, "b")))

    assert await asyncio.wait_for(gate.run(outer), 60) == ["a", "b"]
    assert order == ["a in", "a out", "b in", "b out"]


async def test_a_nested_call_takes_a_free_permit_when_there_is_one() -> None:
    gate = sluice.Gate("llm", concurrency=3)
    probe = Probe()

    async def outer() -> list[int]:
        return await gate.map(probe.work, range(4))

    assert await gate.run(outer) == [0, 1, 2, 3]
    # The outer call holds one permit; two were free, and the third ran on the lent one.
    assert probe.most == 3


async def test_a_nested_call_waiting_for_the_lent_permit_is_bounded_by_its_deadline() -> None:
    gate = sluice.Gate("llm", concurrency=1, timeout=sluice.Timeout(total=5.0))

    async def slow() -> None:
        await asyncio.sleep(60.0)

    async def outer() -> None:
        await asyncio.gather(gate.run(slow), gate.run(slow))

    start = asyncio.get_running_loop().time()
    with pytest.raises(sluice.DeadlineExceeded):
        await gate.run(outer)
    assert asyncio.get_running_loop().time() - start == 5.0
    assert settled(gate)


async def test_calls_of_other_gates_and_later_calls_queue_as_usual() -> None:
    first = sluice.Gate("first", concurrency=1)
    second = sluice.Gate("second", concurrency=1)
    order: list[str] = []

    async def hold(name: str) -> None:
        order.append(f"{name} in")
        await asyncio.sleep(1.0)
        order.append(f"{name} out")

    async def outer() -> None:
        await second.run(hold, "nested")  # another gate: its own permits

    await asyncio.gather(first.run(outer), first.run(hold, "queued"))
    assert order == ["nested in", "nested out", "queued in", "queued out"]

"""A call refused without any wait still lets the event loop run: a caller that retries a
rejected gate in a loop must not starve every other task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

import sluice


async def ticks_while(refusals: Callable[[], Awaitable[None]], times: int) -> int:
    """How often another task ran while ``refusals`` was awaited ``times`` times in a row."""
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    beating = asyncio.get_running_loop().create_task(heartbeat())
    await asyncio.sleep(0)
    start = ticks
    for _ in range(times):
        await refusals()
    beating.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await beating
    return ticks - start


async def test_an_open_circuit_yields() -> None:
    gate = sluice.Gate("g", breaker=sluice.Breaker(failure_rate=0.5, window=2, min_calls=2))

    async def fail() -> None:
        raise ConnectionError("down")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await gate.run(fail)

    async def refused() -> None:
        with pytest.raises(sluice.CircuitOpenError):
            await gate.run(fail)

    assert await ticks_while(refused, 100) >= 100


async def test_a_full_queue_yields() -> None:
    gate = sluice.Gate("g", concurrency=sluice.Concurrency(1, max_queue=0))
    holder = asyncio.get_running_loop().create_task(gate.run(asyncio.sleep, 10.0))
    await asyncio.sleep(0)

    async def refused() -> None:
        with pytest.raises(sluice.OverloadedError):
            await gate.run(asyncio.sleep, 0)

    assert await ticks_while(refused, 100) >= 100
    await holder


async def test_a_closed_gate_yields() -> None:
    gate = sluice.Gate("g")
    await gate.aclose()

    async def refused() -> None:
        with pytest.raises(sluice.GateClosedError):
            await gate.run(asyncio.sleep, 0)

    assert await ticks_while(refused, 100) >= 100

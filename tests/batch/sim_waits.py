"""Waits on a simulator's request counter, for tests that stop a job part way."""

from __future__ import annotations

import asyncio

from sluice.sim import SimServer


async def wait_for_requests(sim: SimServer, count: int, within: float) -> None:
    """Until the simulator has received ``count`` requests (at most ``within`` seconds)."""
    async with asyncio.timeout(within):
        while sim.metrics().total_requests < count:
            await asyncio.sleep(0.01)


async def quiet(sim: SimServer, pause: float, within: float) -> None:
    """Until no request has arrived for ``pause`` seconds (at most ``within`` seconds):
    requests sent just before a kill may still be on their way."""
    async with asyncio.timeout(within):
        seen = -1
        while sim.metrics().total_requests != seen:
            seen = sim.metrics().total_requests
            await asyncio.sleep(pause)

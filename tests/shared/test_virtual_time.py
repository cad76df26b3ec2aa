"""A shared gate under sluice's virtual-time loop (as a user's test suite would run it)."""

from __future__ import annotations

import asyncio

import sluice
from sluice.stores import RedisState
from tests.redis_server import RedisServer
from tests.shared.clock import server_time


async def test_a_shared_gate_works_on_virtual_time(
    redis_server: RedisServer, redis_url: str
) -> None:
    # The store's answers take real time; the virtual clock waits for them instead of
    # jumping to their timeout, and the rate's waits pass on virtual time.
    store = RedisState(redis_url)
    gate = sluice.Gate("virtual-time", rate=sluice.Rate(rps=1.0), concurrency=2, shared=store)
    loop = asyncio.get_running_loop()
    try:
        server_began = server_time(redis_server)
        began = loop.time()
        assert await gate.map(asyncio.sleep, [0, 0, 0]) == [None, None, None]
        waited = loop.time() - began
        server_moved = server_time(redis_server) - server_began
        # Two intervals of the rate were waited on virtual time; Redis counts them on its
        # own clock, which moved on by the real time the exchanges took.
        assert 2.0 - server_moved - 1e-3 <= waited <= 2.0
        shared = gate.statistics().shared
        assert shared is not None
        assert (shared.outages, shared.degraded_admissions) == (0, 0)
    finally:
        await gate.aclose()
        await store.aclose()

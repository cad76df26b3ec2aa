"""Learned limits against the simulator over real sockets: a burst past the request budget.

The simulator refills 600 requests a minute continuously; once the budget is spent it reports
``x-ratelimit-remaining-requests: 0`` with a reset of about 60 s (the time until it is full
again), yet accepts the next request 0.1 s later. The client learns the refill rate from the
limit and paces, so 20 calls past the budget take about 2 s, not a minute.
"""

from __future__ import annotations

import asyncio

import pytest

from sluice.llm import Client
from sluice.sim import SimConfig, SimServer

pytestmark = pytest.mark.realtime

MESSAGES = [{"role": "user", "content": "Hi."}]


async def test_a_burst_past_the_request_budget_is_paced_not_paused() -> None:
    async with (
        # A server that lets a whole minute's budget pass at once, then refills.
        SimServer(SimConfig(rpm=600, burst=60.0, retry_after=0.1)) as sim,
        Client(sim.base_url, api_key="sk-burst") as client,
    ):
        # Paused for the 60 s reset, this would run out of time long before it finished.
        async with asyncio.timeout(20.0):
            results = await asyncio.gather(
                *(
                    client.chat(model="sim-model", messages=MESSAGES, max_tokens=1)
                    for _ in range(620)
                )
            )
        stats = client.gate.statistics()
        metrics = sim.metrics()
    assert len(results) == 620
    assert metrics.status_count(200) == 620
    assert metrics.status_count(429) <= 100  # at most the calls in flight as the budget ran out
    assert stats.paused_for < 1.0  # at most a Retry-After's worth, never the time to full
    assert stats.rate is not None
    assert stats.rate.requests_per_second == pytest.approx(10.0)

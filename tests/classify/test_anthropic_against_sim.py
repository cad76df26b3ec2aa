"""The anthropic SDK inside a gate, against the simulator's Messages API: its 429s and 529s
are classified as overload with the server's Retry-After and quota, and retried by the gate."""

from __future__ import annotations

import anthropic
import pytest

import sluice
from sluice import ErrorInfo, classify_error
from sluice.sim import SimConfig, SimServer

pytestmark = pytest.mark.realtime

ASK: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Name a river."}]


async def test_the_sdks_429_and_529_from_the_simulator_are_classified_as_overload() -> None:
    async with SimServer(SimConfig(rpm=600, retry_after=0.25)) as sim:
        client = anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-test", max_retries=0)
        async with client:
            errors: dict[str, anthropic.APIStatusError] = {}
            for fault in ("429", "529", "400"):
                try:
                    await client.messages.create(
                        model="claude-sim",
                        max_tokens=10,
                        messages=ASK,
                        extra_headers={"x-sim-fault": fault},
                    )
                except anthropic.APIStatusError as exc:
                    errors[fault] = exc
    assert isinstance(errors["429"], anthropic.RateLimitError)
    assert isinstance(errors["529"], anthropic.OverloadedError)
    for fault in ("429", "529"):
        assert classify_error(errors[fault]) == ErrorInfo(
            retryable=True,
            overloaded=True,
            retry_after=0.25,  # from retry-after-ms
            status=int(fault),
            quota_left=True,  # anthropic-ratelimit-requests-remaining: 9 of a 1 s burst
        )
    assert classify_error(errors["400"]) == ErrorInfo(
        retryable=False, failure=False, status=400, quota_left=True
    )


async def test_a_gate_retries_the_sdks_overload_answers() -> None:
    config = SimConfig(output_tokens=4, retry_after=0.02, faults={"429": 0.2, "529": 0.2}, seed=5)
    async with SimServer(config) as sim:
        client = anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-test", max_retries=0)
        retry = sluice.Retry(attempts=25, backoff=sluice.Backoff.constant(0.01), budget=None)
        async with client, sluice.Gate("anthropic", concurrency=4, retry=retry) as gate:
            replies = await gate.map(
                lambda _: client.messages.create(model="claude-sim", max_tokens=10, messages=ASK),
                range(12),
            )
            stats = gate.statistics()
        served = sim.metrics()
    assert all(reply.stop_reason == "end_turn" for reply in replies)
    assert stats.succeeded == 12
    refused = served.status_count(429) + served.status_count(529)
    assert refused > 0
    assert stats.retried == refused

"""`Client.responses` and `Client.stream_responses` against the simulator over loopback."""

from __future__ import annotations

from typing import Any

import pytest

import sluice
from sluice import llm
from sluice.llm import Client
from sluice.sim import SimConfig, SimServer, count_tokens

pytestmark = pytest.mark.realtime

KEY = "sk-loopback-secret"
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


def fault(name: str) -> dict[str, str]:
    return {"x-sim-fault": name}


async def test_an_agent_turn_and_a_stream_through_the_gate() -> None:
    config = SimConfig(output_tokens=8, rpm=6000, tpm=1_000_000)
    async with SimServer(config) as sim, Client(sim.base_url, api_key=KEY) as client:
        result = await client.responses(model="sim-model", input="Hi", instructions="Be terse.")
        called = await client.responses(model="sim-model", input="Weather?", tools=TOOLS)
        [call] = called.function_calls
        history = [
            {"role": "user", "content": "Weather?"},
            *called.output,
            call.output("sunny"),
        ]
        answered = await client.responses(model="sim-model", input=history, tools=TOOLS)
        async with client.stream_responses(
            model="sim-model", input="Hi", instructions="Be terse."
        ) as stream:
            deltas = [event.delta async for event in stream if event.delta]
        cut = await client.responses(model="sim-model", input="Hi", max_output_tokens=16)
        stats = client.statistics()
    assert result.status == "completed"
    assert result.usage is not None
    assert result.usage.output_tokens == count_tokens(result.text) == 8
    assert result.rate_limits is not None
    assert result.rate_limits.requests_limit == 6000
    assert call.name == "weather"
    assert set(call.parsed_arguments()) == {"city"}
    assert answered.text
    assert not answered.function_calls
    assert "".join(deltas) == stream.text == result.text  # the same prompt, the same text
    assert stream.usage == result.usage
    assert stream.ttft is not None
    assert cut.status == "completed"  # 8 tokens fit in 16
    assert stats.responses == {200: 5}


async def test_faults_are_retried_or_interrupt_as_for_chat() -> None:
    config = SimConfig(output_tokens=8, retry_after=0.05)
    retry = sluice.Retry(backoff=sluice.Backoff(base=0.01))  # a malformed body is retried too
    async with SimServer(config) as sim, Client(sim.base_url, api_key=KEY, retry=retry) as client:
        with pytest.raises(llm.RateLimitError):
            await client.responses(model="sim-model", input="Hi", extra_headers=fault("429"))
        assert client.statistics().responses == {429: 3}  # two retries after Retry-After
        stream = client.stream_responses(
            model="sim-model", input="Hi", extra_headers=fault("reset")
        )
        with pytest.raises(llm.StreamInterrupted) as caught:
            await stream.final()
        truncated = client.stream_responses(
            model="sim-model", input="Hi", extra_headers=fault("truncate")
        )
        with pytest.raises(llm.StreamInterrupted, match="before its last event"):
            await truncated.final()
        with pytest.raises(llm.MalformedResponseError):
            await client.responses(model="sim-model", input="Hi", extra_headers=fault("malformed"))
        assert client.statistics().responses == {429: 3, 200: 5}  # malformed ones: 3 tries
    assert caught.value.text
    assert isinstance(caught.value.__cause__, llm.APIConnectionError)


def test_sync_twins_over_loopback() -> None:
    sim = SimServer(SimConfig(output_tokens=5))
    sluice.run_sync(sim.__aenter__)
    try:
        with Client(sim.base_url, api_key=KEY) as client:
            result = client.responses_sync(model="sim-model", input="Hi")
            stream = client.stream_responses_sync(model="sim-model", input="Hi")
            final = stream.final()
    finally:
        sluice.run_sync(sim.__aexit__, None, None, None)
    assert final.text == result.text
    assert count_tokens(result.text) == 5


async def test_a_refusal_and_a_cut_answer_arrive_as_the_api_sends_them() -> None:
    async with SimServer(SimConfig(output_tokens=10)) as sim, Client(sim.base_url) as client:
        refused = await client.responses(
            model="sim-model", input="Hi", extra_headers=fault("refusal")
        )
        async with client.stream_responses(
            model="sim-model", input="Hi", extra_headers=fault("refusal")
        ) as stream:
            kinds = [event.type async for event in stream]
        cut = await client.responses(model="sim-model", input="Hi", extra_headers=fault("length"))
    assert refused.refusal
    assert not refused.text
    assert "response.refusal.delta" in kinds
    assert stream.output is not None
    assert stream.output.refusal == refused.refusal
    assert stream.ttft is not None  # a refusal delta is content: timed, and not retried past it
    assert cut.status == "incomplete"
    assert cut.incomplete_reason == "max_output_tokens"
    assert cut.usage is not None
    assert cut.usage.output_tokens == count_tokens(cut.text) == 5

"""The official anthropic SDK, unchanged, against the simulator: messages, streams, tools,
token counting, and its errors and retries through the simulator's faults."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import jsonschema
import pytest

from sluice.sim import SimConfig, SimServer, count_tokens
from sluice.sim._faults import FaultPicker

pytestmark = pytest.mark.realtime

MODEL = "claude-sim"
ASK: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Name three rivers."}]
WEATHER: anthropic.types.ToolParam = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
    },
}


async def test_async_sdk_create_stream_tools_and_count_tokens() -> None:
    config = SimConfig(itl=0.001, output_tokens=8, rpm=1000, tpm=1_000_000)
    async with SimServer(config) as sim:
        client = anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-test", max_retries=0)
        async with client:
            message = await client.messages.create(
                model=MODEL, max_tokens=100, system="Be terse.", messages=ASK
            )
            block = message.content[0]
            assert isinstance(block, anthropic.types.TextBlock)
            assert message.usage.output_tokens == count_tokens(block.text) == 8
            assert message.stop_reason == "end_turn"

            raw = await client.messages.with_raw_response.create(
                model=MODEL, max_tokens=3, messages=ASK
            )
            assert raw.headers["anthropic-ratelimit-requests-limit"] == "1000"
            assert raw.headers["request-id"].startswith("req_")
            assert (await raw.parse()).stop_reason == "max_tokens"

            async with client.messages.stream(
                model=MODEL, max_tokens=100, system="Be terse.", messages=ASK
            ) as stream:
                text = "".join([piece async for piece in stream.text_stream])
                final = await stream.get_final_message()
            assert text == block.text  # deterministic content
            assert final.usage.output_tokens == 8
            assert final.usage.input_tokens == message.usage.input_tokens

            counted = await client.messages.count_tokens(
                model=MODEL, system="Be terse.", messages=ASK
            )
            assert counted.input_tokens == message.usage.input_tokens

            await _tool_round_trip(client)


async def _tool_round_trip(client: anthropic.AsyncAnthropic) -> None:
    asked: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Oslo weather?"}]
    call = await client.messages.create(
        model=MODEL, max_tokens=200, tools=[WEATHER], messages=asked
    )
    assert call.stop_reason == "tool_use"
    use = call.content[0]
    assert isinstance(use, anthropic.types.ToolUseBlock)
    jsonschema.validate(use.input, WEATHER["input_schema"])
    assert call.usage.output_tokens == 1 + count_tokens(
        json.dumps(use.input, separators=(",", ":"))
    )
    async with client.messages.stream(
        model=MODEL, max_tokens=200, tools=[WEATHER], messages=asked
    ) as stream:
        streamed = await stream.get_final_message()
    assert streamed.content[0].model_dump(exclude={"id"}) == use.model_dump(exclude={"id"})
    result: anthropic.types.ToolResultBlockParam = {
        "type": "tool_result",
        "tool_use_id": use.id,
        "content": "Sunny, 21 degrees.",
    }
    follow_up = await client.messages.create(
        model=MODEL,
        max_tokens=200,
        tools=[WEATHER],
        messages=[
            *asked,
            {"role": "assistant", "content": call.content},
            {"role": "user", "content": [result]},
        ],
    )
    assert follow_up.stop_reason == "end_turn"
    assert isinstance(follow_up.content[0], anthropic.types.TextBlock)


async def test_sync_sdk_create_and_stream() -> None:
    async with SimServer(SimConfig(output_tokens=5)) as sim:

        def use_sync_client() -> tuple[str, str, int]:
            with anthropic.Anthropic(base_url=sim.url, api_key="sk-test") as client:
                message = client.messages.create(model=MODEL, max_tokens=50, messages=ASK)
                with client.messages.stream(model=MODEL, max_tokens=50, messages=ASK) as stream:
                    text = "".join(stream.text_stream)
                    final = stream.get_final_message()
                block = message.content[0]
                assert isinstance(block, anthropic.types.TextBlock)
                return block.text, text, final.usage.output_tokens

        whole, streamed, tokens = await asyncio.to_thread(use_sync_client)
    assert whole == streamed
    assert tokens == 5


def _seed_for(pattern: list[str | None], faults: dict[str, float]) -> int:
    """A seed whose first random faults are ``pattern``, found, not hard-coded."""
    for seed in range(10_000):
        picker = FaultPicker(faults, seed)
        if [picker.pick(None) for _ in pattern] == pattern:
            return seed
    raise AssertionError(f"no seed below 10000 starts with {pattern}")


async def test_the_sdk_retries_a_429_after_its_retry_after() -> None:
    faults = {"429": 0.5}
    config = SimConfig(faults=faults, seed=_seed_for(["429", None], faults), retry_after=0.3)
    async with SimServer(config) as sim:
        client = anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-test", max_retries=2)
        waits: list[float] = []
        computed = client._calculate_retry_timeout

        def recorded(*args: Any, **kwargs: Any) -> float:
            waits.append(computed(*args, **kwargs))
            return waits[-1]

        client._calculate_retry_timeout = recorded  # type: ignore[method-assign]
        async with client:
            raw = await client.messages.with_raw_response.create(
                model=MODEL, max_tokens=10, messages=ASK
            )
        assert raw.retries_taken == 1
        assert (await raw.parse()).stop_reason == "max_tokens"  # 10 < 16 tokens
        metrics = sim.metrics()
    assert waits == [0.3]  # the server's retry-after-ms, not the SDK's own backoff
    assert (metrics.status_count(429), metrics.status_count(200)) == (1, 1)


async def test_overloaded_raises_overloaded_error_after_the_sdks_retries() -> None:
    async with SimServer(SimConfig(retry_after=0.01)) as sim:
        client = anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-test", max_retries=1)
        async with client:
            with pytest.raises(anthropic.OverloadedError) as overloaded:
                await client.messages.create(
                    model=MODEL,
                    max_tokens=10,
                    messages=ASK,
                    extra_headers={"x-sim-fault": "529"},
                )
            with pytest.raises(anthropic.BadRequestError) as bad:
                await client.messages.create(model=MODEL, max_tokens=0, messages=ASK)
        metrics = sim.metrics()
    assert overloaded.value.status_code == 529
    assert overloaded.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": overloaded.value.request_id,
    }
    assert metrics.status_count(529) == 2  # the first answer and the SDK's one retry
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "max_tokens" in bad.value.message
    assert metrics.status_count(400) == 1  # a 400 is not retried


async def test_a_malformed_event_mid_stream_raises_in_the_sdk() -> None:
    async with SimServer(SimConfig(output_tokens=6)) as sim:
        client = anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-test", max_retries=0)
        async with client:
            with pytest.raises(ValueError, match="Unterminated string"):  # the SDK's JSON error
                async with client.messages.stream(
                    model=MODEL,
                    max_tokens=50,
                    messages=ASK,
                    extra_headers={"x-sim-fault": "malformed"},
                ) as stream:
                    await stream.get_final_message()

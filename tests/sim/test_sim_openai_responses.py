"""The official openai SDK's Responses API, unchanged, against the simulator."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pydantic
import pytest

from sluice.sim import SimConfig, SimServer, count_tokens
from sluice.sim._faults import FaultPicker

pytestmark = pytest.mark.realtime

TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
            "additionalProperties": False,
        },
        "strict": True,
    }
]


class Card(pydantic.BaseModel):
    title: str
    pages: int
    tags: list[str]


def client(sim: SimServer, **options: Any) -> openai.AsyncOpenAI:
    options.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test", **options)


async def test_create_with_text_items_instructions_and_a_tool_round_trip() -> None:
    config = SimConfig(itl=0.001, output_tokens=8, rpm=1000)
    async with SimServer(config) as sim, client(sim) as sdk:
        reply = await sdk.responses.create(model="sim-model", input="Hi", instructions="Be terse.")
        assert reply.status == "completed"
        assert reply.usage is not None
        assert reply.usage.output_tokens == count_tokens(reply.output_text) == 8
        assert reply.usage.input_tokens_details.cached_tokens == 0

        raw = await sdk.responses.with_raw_response.create(
            model="sim-model",
            input=[{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
            instructions="Be terse.",
        )
        assert raw.headers["x-ratelimit-limit-requests"] == "1000"
        assert raw.parse().output_text == reply.output_text  # the same prompt, as items

        called = await sdk.responses.create(model="sim-model", input="Weather?", tools=TOOLS)
        [call] = called.output
        assert call.type == "function_call"
        assert call.name == "weather"
        assert set(json.loads(call.arguments)) == {"city", "days"}
        follow = await sdk.responses.create(
            model="sim-model",
            tools=TOOLS,
            input=[
                {"role": "user", "content": "Weather?"},
                call.model_dump(include={"type", "call_id", "name", "arguments"}),
                {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
            ],
        )
        assert follow.output[0].type == "message"
        assert follow.output_text

        short = await sdk.responses.create(
            model="sim-model", input="Hi", max_output_tokens=16, extra_body={}
        )
        assert short.status == "completed"  # 8 tokens fit in 16

        parsed = await sdk.responses.parse(model="sim-model", input="A book?", text_format=Card)
        assert isinstance(parsed.output_parsed, Card)


async def test_stream_helper_accumulates_text_and_function_calls() -> None:
    config = SimConfig(itl=0.001, output_tokens=6, tokens_per_chunk=2)
    async with SimServer(config) as sim, client(sim) as sdk:
        async with sdk.responses.stream(model="sim-model", input="Hi") as stream:
            deltas = [event.delta async for event in stream if event.type.endswith("text.delta")]
            final = await stream.get_final_response()
        assert "".join(deltas) == final.output_text
        assert final.usage is not None
        assert final.usage.output_tokens == 6

        async with sdk.responses.stream(model="sim-model", input="Weather?", tools=TOOLS) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_response()
        assert "response.function_call_arguments.delta" in kinds
        [call] = final.output
        assert call.type == "function_call"
        assert call.parsed_arguments is not None  # strict tool: the SDK parsed the arguments

        raw = await sdk.responses.create(
            model="sim-model", input="Hi", stream=True, max_output_tokens=16
        )
        events = [event async for event in raw]
        assert events[-1].type == "response.completed"
        assert [e.sequence_number for e in events] == list(range(len(events)))


async def test_incomplete_answers_report_why() -> None:
    async with SimServer(SimConfig(output_tokens=30)) as sim, client(sim) as sdk:
        reply = await sdk.responses.create(model="sim-model", input="Hi", max_output_tokens=16)
        assert reply.status == "incomplete"
        assert reply.incomplete_details is not None
        assert reply.incomplete_details.reason == "max_output_tokens"
        async with sdk.responses.stream(
            model="sim-model", input="Hi", max_output_tokens=16
        ) as stream:
            kinds = [event.type async for event in stream]
        assert kinds[-1] == "response.incomplete"


async def test_the_sync_client_creates_and_streams() -> None:
    async with SimServer(SimConfig(output_tokens=5)) as sim:

        def use_sync_client() -> tuple[str, str]:
            with openai.OpenAI(base_url=sim.base_url, api_key="sk-test") as sdk:
                text = sdk.responses.create(model="sim-model", input="Hi").output_text
                with sdk.responses.stream(model="sim-model", input="Hi") as stream:
                    streamed = stream.get_final_response().output_text
            return text, streamed

        text, streamed = await asyncio.to_thread(use_sync_client)
        assert text == streamed
        assert count_tokens(text) == 5


async def test_parse_surfaces_a_refusal_and_the_length_fault_an_incomplete_answer() -> None:
    async with SimServer(SimConfig(output_tokens=12)) as sim, client(sim) as sdk:
        refused = await sdk.responses.parse(
            model="sim-model",
            input="A book?",
            text_format=Card,
            extra_headers={"x-sim-fault": "refusal"},
        )
        assert refused.output_parsed is None
        [message] = refused.output
        assert message.type == "message"
        [part] = message.content
        assert part.type == "refusal"
        assert part.refusal

        async with sdk.responses.stream(
            model="sim-model", input="Hi", extra_headers={"x-sim-fault": "refusal"}
        ) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_response()
        assert "response.refusal.delta" in kinds
        assert final.output[0].content[0].type == "refusal"  # type: ignore[union-attr]

        cut = await sdk.responses.create(
            model="sim-model", input="Hi", extra_headers={"x-sim-fault": "length"}
        )
        assert cut.status == "incomplete"
        assert cut.incomplete_details is not None
        assert cut.incomplete_details.reason == "max_output_tokens"
        assert cut.usage is not None
        assert cut.usage.output_tokens == count_tokens(cut.output_text) == 6


def _seed_failing_once() -> int:
    """A seed whose fault draws are a 429, then none (the server draws the same way)."""
    for seed in range(1000):
        picker = FaultPicker({"429": 0.5}, seed)
        if [picker.pick(None), picker.pick(None)] == ["429", None]:
            return seed
    raise AssertionError("no seed found")


async def test_faults_reach_the_sdk_as_its_own_errors() -> None:
    config = SimConfig(faults={"429": 0.5}, seed=_seed_failing_once(), retry_after=0.01)
    async with SimServer(config) as sim, client(sim, max_retries=2) as sdk:
        reply = await sdk.responses.create(model="sim-model", input="Hi")  # retried once
        assert reply.status == "completed"
        assert sim.metrics().status_count(429) == 1

    async with SimServer(SimConfig(output_tokens=6)) as sim, client(sim) as sdk:
        with pytest.raises(openai.InternalServerError):
            await sdk.responses.create(
                model="sim-model", input="Hi", extra_headers={"x-sim-fault": "500"}
            )
        with pytest.raises(openai.RateLimitError):
            await sdk.responses.create(
                model="sim-model", input="Hi", extra_headers={"x-sim-fault": "429"}
            )
        truncated = {"x-sim-fault": "truncate"}
        async with sdk.responses.stream(
            model="sim-model", input="Hi", extra_headers=truncated
        ) as stream:
            kinds = [event.type async for event in stream]
            with pytest.raises(RuntimeError, match=r"response\.completed"):
                await stream.get_final_response()
        assert kinds.count("response.output_text.delta") == 3
        reset = {"x-sim-fault": "reset"}
        async with sdk.responses.stream(model="sim-model", input="Hi", extra_headers=reset) as cut:
            with pytest.raises(openai.APIConnectionError):
                await cut.until_done()
        with pytest.raises(json.JSONDecodeError):  # the SDK does not wrap a body it cannot read
            await sdk.responses.create(
                model="sim-model", input="Hi", extra_headers={"x-sim-fault": "malformed"}
            )

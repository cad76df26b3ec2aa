"""The official openai SDK's tool calls and structured outputs against the simulator."""

from __future__ import annotations

import json
from typing import Literal

import openai
import pydantic
import pytest

from sluice.sim import SimConfig, SimServer
from sluice.sim._faults import FaultPicker

pytestmark = pytest.mark.realtime


class Place(pydantic.BaseModel):
    name: str
    kind: Literal["city", "river", "mountain"]


class Trip(pydantic.BaseModel):
    title: str = pydantic.Field(min_length=3)
    days: int = pydantic.Field(ge=1, le=14)
    budget: float | None
    stops: list[Place]


class GetWeather(pydantic.BaseModel):
    """The weather in a city."""

    city: str
    unit: Literal["c", "f"]


TOOLS: list[openai.types.chat.ChatCompletionToolParam] = [
    openai.pydantic_function_tool(GetWeather),
    openai.pydantic_function_tool(Trip, name="plan_trip"),
]
ASK: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Plan a trip and check the weather."}
]


async def test_parse_validates_the_model_and_streams_the_same() -> None:
    async with SimServer(SimConfig(itl=0.0005)) as sim:
        client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
        async with client:
            parsed = await client.chat.completions.parse(
                model="sim-model", messages=ASK, response_format=Trip
            )
            message = parsed.choices[0].message
            assert isinstance(message.parsed, Trip)
            assert message.parsed == Trip.model_validate_json(message.content or "")
            async with client.chat.completions.stream(
                model="sim-model", messages=ASK, response_format=Trip
            ) as stream:
                final = await stream.get_final_completion()
            assert final.choices[0].message.parsed == message.parsed


async def test_tool_calls_parsed_streamed_and_the_follow_up_turn() -> None:
    async with SimServer(SimConfig(itl=0.0005)) as sim:
        client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
        async with client:
            reply = await client.chat.completions.parse(
                model="sim-model", messages=ASK, tools=TOOLS
            )
            choice = reply.choices[0]
            assert choice.finish_reason == "tool_calls"
            calls = choice.message.tool_calls or []
            assert {c.function.name for c in calls} == {"GetWeather", "plan_trip"}
            for c in calls:  # pydantic_function_tool makes strict tools: the SDK parses them
                expected = GetWeather if c.function.name == "GetWeather" else Trip
                assert isinstance(c.function.parsed_arguments, expected)

            async with client.chat.completions.stream(
                model="sim-model", messages=ASK, tools=TOOLS
            ) as stream:
                done = [e async for e in stream if e.type == "tool_calls.function.arguments.done"]
                streamed = await stream.get_final_completion()
            assert [e.arguments for e in done] == [c.function.arguments for c in calls]
            assert [c.id for c in streamed.choices[0].message.tool_calls or []] == [
                c.id for c in calls
            ]

            named = await client.chat.completions.create(
                model="sim-model",
                messages=ASK,
                tools=TOOLS,
                tool_choice={"type": "function", "function": {"name": "GetWeather"}},
            )
            first = (named.choices[0].message.tool_calls or [])[0]
            assert first.type == "function"
            assert first.function.name == "GetWeather"
            follow_up = await client.chat.completions.create(
                model="sim-model",
                messages=[
                    *ASK,
                    named.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
                    {"role": "tool", "tool_call_id": first.id, "content": json.dumps({"c": 4})},
                ],
                tools=TOOLS,
            )
            assert follow_up.choices[0].finish_reason == "stop"
            assert follow_up.choices[0].message.content
            assert follow_up.choices[0].message.tool_calls is None


def seed_whose_first_rolls_are_429s() -> tuple[int, int]:
    """A seed under which the first request draws a 429, and how many 429s come before
    the first clean answer (the simulator's fault dice are seeded)."""
    for seed in range(100):
        picker = FaultPicker({"429": 0.5}, seed)
        refused = 0
        while picker.pick(None) == "429":
            refused += 1
        if 1 <= refused <= 2:
            return seed, refused
    raise AssertionError("no seed draws a 429 first")


async def test_faults_retried_refused_and_cut() -> None:
    seed, refused = seed_whose_first_rolls_are_429s()
    config = SimConfig(retry_after=0.01, faults={"429": 0.5}, seed=seed)
    async with SimServer(config) as sim:
        client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=3)
        async with client:
            # 429s (with Retry-After) first: the SDK retries and parses the clean answer.
            parsed = await client.chat.completions.parse(
                model="sim-model", messages=ASK, response_format=Trip
            )
            assert isinstance(parsed.choices[0].message.parsed, Trip)
            metrics = sim.metrics()
            assert metrics.status_count(429) == refused
            assert metrics.status_count(200) == 1

            clean = {"x-sim-fault": "none"}
            refusal = await client.chat.completions.parse(
                model="sim-model",
                messages=ASK,
                response_format=Trip,
                extra_headers={"x-sim-fault": "refusal"},
            )
            message = refusal.choices[0].message
            assert message.parsed is None
            assert message.content is None
            assert message.refusal
            with pytest.raises(openai.LengthFinishReasonError):
                await client.chat.completions.parse(
                    model="sim-model",
                    messages=ASK,
                    response_format=Trip,
                    extra_headers={"x-sim-fault": "length"},
                )
            tools = await client.chat.completions.create(
                model="sim-model", messages=ASK, tools=TOOLS, extra_headers=clean
            )
            assert tools.choices[0].message.tool_calls

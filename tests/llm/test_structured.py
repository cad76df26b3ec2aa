"""Tool calls, structured outputs and refusals in the client's typed results, from the
simulator over loopback, whole and streamed."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from sluice import llm
from sluice.sim import SimConfig, SimServer

pytestmark = pytest.mark.realtime

ASK = [{"role": "user", "content": "Weather in Oslo?"}]
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
TOOLS = [
    {"type": "function", "function": {"name": "weather", "parameters": WEATHER, "strict": True}}
]
FORMAT = {"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER, "strict": True}}


async def test_tool_calls_typed_whole_and_streamed() -> None:
    async with (
        SimServer(SimConfig()) as sim,
        llm.Client(sim.base_url, api_key="sk-test") as client,
    ):
        result = await client.chat(model="sim-model", messages=ASK, tools=TOOLS)
        assert result.finish_reason == "tool_calls"
        assert result.text == ""
        (call,) = result.tool_calls
        assert call.name == "weather"
        jsonschema.validate(call.parsed_arguments(), WEATHER)
        raw_call = result.raw["choices"][0]["message"]["tool_calls"][0]
        assert raw_call["function"]["arguments"] == call.arguments
        assert raw_call["id"] == call.id

        async with client.stream_chat(model="sim-model", messages=ASK, tools=TOOLS) as stream:
            fragments = [d.tool_calls async for d in stream if d.tool_calls]
        assert len(fragments) > 1  # the arguments came in pieces...
        assert stream.tool_calls == result.tool_calls  # ...and were put back together
        assert stream.finish_reason == "tool_calls"

        follow_up: list[dict[str, Any]] = [
            *ASK,
            {"role": "assistant", "content": None, "tool_calls": [raw_call]},
            {"role": "tool", "tool_call_id": call.id, "content": "4 C"},
        ]
        answer = await client.chat(model="sim-model", messages=follow_up, tools=TOOLS)
        assert answer.tool_calls == ()
        assert answer.text


async def test_structured_content_refusal_and_cut_answers() -> None:
    async with (
        SimServer(SimConfig()) as sim,
        llm.Client(sim.base_url, api_key="sk-test") as client,
    ):
        result = await client.chat(model="sim-model", messages=ASK, response_format=FORMAT)
        jsonschema.validate(result.json(), WEATHER)
        assert result.refusal is None
        async with client.stream_chat(
            model="sim-model", messages=ASK, response_format=FORMAT
        ) as stream:
            async for _ in stream:
                pass
        assert stream.json() == result.json()

        refused = await client.chat(
            model="sim-model",
            messages=ASK,
            response_format=FORMAT,
            extra_headers={"x-sim-fault": "refusal"},
        )
        assert refused.refusal
        assert refused.text == ""
        with pytest.raises(ValueError, match="refused"):
            refused.json()
        async with client.stream_chat(
            model="sim-model", messages=ASK, extra_headers={"x-sim-fault": "refusal"}
        ) as refusing:
            async for _ in refusing:
                pass
        assert refusing.refusal == refused.refusal

        cut = await client.chat(
            model="sim-model",
            messages=ASK,
            response_format=FORMAT,
            extra_headers={"x-sim-fault": "length"},
        )
        assert cut.finish_reason == "length"
        with pytest.raises(ValueError, match="cut off"):
            cut.json()

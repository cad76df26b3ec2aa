"""LangChain's ChatOpenAI against the simulator: bound tools and structured output."""

from __future__ import annotations

from typing import Literal

import openai
import pydantic
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI

from sluice.sim import SimConfig, SimServer
from tests.sim.test_sim_openai_tools import seed_whose_first_rolls_are_429s

pytestmark = pytest.mark.realtime


class Forecast(pydantic.BaseModel):
    """A weather forecast for a city."""

    city: str
    days: int = pydantic.Field(ge=1, le=10)
    unit: Literal["c", "f"]


class Lookup(pydantic.BaseModel):
    """Look a word up."""

    word: str


def model(base_url: str, **settings: object) -> ChatOpenAI:
    options: dict[str, object] = {"max_retries": 0, **settings}
    return ChatOpenAI(model="sim-model", base_url=base_url, api_key="sk-test", **options)  # type: ignore[arg-type]


async def test_bind_tools_gets_tool_calls_and_the_agent_turn_ends_in_text() -> None:
    async with SimServer(SimConfig()) as sim:
        llm = model(sim.base_url).bind_tools([Forecast, Lookup])
        question = HumanMessage("Forecast for Oslo?")
        reply = await llm.ainvoke([question])
        assert {call["name"] for call in reply.tool_calls} == {"Forecast", "Lookup"}
        for call in reply.tool_calls:
            schema = Forecast if call["name"] == "Forecast" else Lookup
            schema.model_validate(call["args"])
        results = [
            ToolMessage(content="sunny", tool_call_id=call["id"] or "") for call in reply.tool_calls
        ]
        answer = await llm.ainvoke([question, reply, *results])
        assert answer.tool_calls == []
        assert isinstance(answer.content, str)
        assert answer.content

        streamed = None
        async for chunk in llm.astream([question]):
            streamed = chunk if streamed is None else streamed + chunk
        assert streamed is not None
        assert [c["args"] for c in streamed.tool_calls] == [c["args"] for c in reply.tool_calls]


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
async def test_with_structured_output_returns_the_model(method: str) -> None:
    async with SimServer(SimConfig()) as sim:
        structured = model(sim.base_url).with_structured_output(Forecast, method=method)  # type: ignore[arg-type]
        forecast = await structured.ainvoke("Forecast for Oslo?")
        assert isinstance(forecast, Forecast)
        again = await structured.ainvoke("Forecast for Oslo?")
        assert again == forecast  # the same request, the same answer


async def test_structured_output_through_faults() -> None:
    seed, refused = seed_whose_first_rolls_are_429s()
    config = SimConfig(retry_after=0.01, faults={"429": 0.5}, seed=seed)
    async with SimServer(config) as sim:
        retrying = model(sim.base_url, max_retries=3)
        forecast = await retrying.with_structured_output(Forecast, method="json_schema").ainvoke(
            "Forecast for Oslo?"
        )
        assert isinstance(forecast, Forecast)
        assert sim.metrics().status_count(429) == refused  # retried by the SDK underneath

        cut = model(sim.base_url, default_headers={"x-sim-fault": "length"})
        with pytest.raises(openai.LengthFinishReasonError):
            await cut.with_structured_output(Forecast, method="json_schema").ainvoke("Oslo?")

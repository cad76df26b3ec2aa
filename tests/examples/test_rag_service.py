"""The RAG example service, in-process against the simulator: what it does, not how fast.

The app is served through httpx's ASGI transport; the model is the embedded simulator.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from examples.rag_service.app import create_app
from examples.rag_service.pipeline import Settings

from sluice.sim import SimConfig, SimServer

pytestmark = pytest.mark.realtime

WEATHER_MEETING = "What is the weather for our meeting room booking next week?"
NEWS = "What is the latest news about our competitors?"


@contextlib.asynccontextmanager
async def service(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with SimServer(SimConfig(output_tokens=8)) as sim:
        app = create_app(Settings(llm_url=sim.base_url, **settings))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://rag") as client:
                yield client


async def llm_calls(client: httpx.AsyncClient) -> int:
    stats = (await client.get("/stats")).json()
    return int(stats["llm"]["calls_started"])


async def test_an_answer_is_grounded_and_uses_the_planned_tools() -> None:
    # The weather API takes ten times its latency one call in twenty, past the default tool
    # timeout; that path has its own test below: here every tool has time to answer.
    async with service(tool_timeout=5.0) as client:
        reply = await client.post("/ask", json={"question": WEATHER_MEETING})
    assert reply.status_code == 200
    body = reply.json()
    assert body["answer"]
    assert len(body["sources"]) == 4
    assert body["tools"] == {
        "weather": "Hangzhou: 21 C, clear",
        "calendar": "rooms free on next monday: 3",
    }


async def test_a_repeated_question_is_answered_from_the_cache_unless_bypassed() -> None:
    async with service() as client:
        await client.post("/ask", json={"question": WEATHER_MEETING})
        after_first = await llm_calls(client)
        assert after_first == 2  # planning and answering
        again = await client.post("/ask", json={"question": WEATHER_MEETING})
        assert again.status_code == 200
        assert await llm_calls(client) == after_first
        bypass = {"x-cache": "bypass"}
        await client.post("/ask", json={"question": WEATHER_MEETING}, headers=bypass)
        assert await llm_calls(client) == after_first + 2


async def test_a_failing_tool_falls_back_and_its_breaker_opens() -> None:
    async with service(search_failure_rate=1.0) as client:
        for index in range(12):
            question = f"{NEWS} ({index})"
            reply = await client.post("/ask", json={"question": question})
            assert reply.status_code == 200
            assert reply.json()["tools"]["web_search"] == "(web search unavailable)"
        stats = (await client.get("/stats")).json()["tool:web_search"]
    assert stats["breaker"]["state"] == "open"
    assert stats["fallbacks"] == 12
    assert stats["rejected"].get("circuit_open", 0) >= 1  # answered without calling it


async def test_a_slow_tool_is_cut_at_its_timeout_and_falls_back() -> None:
    async with service(tool_timeout=0.001) as client:
        reply = await client.post("/ask", json={"question": WEATHER_MEETING})
        stats = (await client.get("/stats")).json()["tool:weather"]
    assert reply.json()["tools"]["weather"] == "(weather unavailable)"
    assert stats["timeouts"] >= 1


async def test_a_question_that_is_not_one_is_refused_with_422() -> None:
    async with service() as client:
        reply = await client.post("/ask", json={"question": ""})
    assert reply.status_code == 422


async def test_the_clients_deadline_reaches_the_model_call() -> None:
    async with SimServer(SimConfig(ttft=5.0, output_tokens=8)) as sim:
        app = create_app(Settings(llm_url=sim.base_url))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://rag") as client:
                reply = await client.post(
                    "/ask", json={"question": NEWS}, headers={"x-request-timeout": "0.2"}
                )
                llm = (await client.get("/stats")).json()["llm"]
    assert reply.status_code == 504
    assert llm["succeeded"] == 0
    assert llm["calls_started"] >= 1  # it was called, and gave up at the request's deadline


async def test_a_broken_model_is_shed_with_503_once_its_breaker_opens() -> None:
    async with SimServer(SimConfig(output_tokens=8, faults={"500": 1.0})) as sim:
        app = create_app(Settings(llm_url=sim.base_url))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://rag") as client:
                statuses = []
                for index in range(12):
                    reply = await client.post("/ask", json={"question": f"{NEWS} {index}"})
                    statuses.append(reply.status_code)
                last = reply
    assert statuses[0] == 502  # the model failed for good (after its retries)
    assert statuses[-1] == 503  # then its breaker opened: refused at once
    assert int(last.headers["retry-after"]) >= 1
    assert last.json()["reason"] == "circuit_open"


async def test_metrics_count_the_gates_calls_and_the_loops_lag() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    async with service() as client:
        await client.post("/ask", json={"question": WEATHER_MEETING})
        text = (await client.get("/metrics/")).text
    samples = {
        (sample.name, sample.labels.get("gate")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("sluice_gate_calls_started_total", "llm")] == 2
    assert samples[("sluice_gate_calls_started_total", "tool:weather")] == 1
    assert ("sluice_event_loop_lag_seconds_count", None) in samples

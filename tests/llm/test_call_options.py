"""What a call may carry besides its body: a time limit, extra headers, query and body; and
what it may not: a keyword the API does not know, which is refused instead of sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import sluice
from sluice import llm
from sluice.llm import MockResponse

from .fakes import BASE, KEY, MESSAGES, Script, client_for, ok


def slow(seconds: float, answer: MockResponse | None = None, **settings: Any) -> Any:
    """A client whose server answers after ``seconds``, and the bodies it was sent."""
    script = Script([answer or ok("late")])

    async def handler(request: llm.Request) -> MockResponse:
        answered = script(request)
        await asyncio.sleep(seconds)
        return answered

    client = llm.Client(BASE, api_key=KEY, transport=llm.MockTransport(handler), **settings)
    return client, script, None


async def test_timeout_is_seconds_per_attempt_and_never_sent() -> None:
    client, script, _ = slow(0.3, retry=None)
    async with client:
        with pytest.raises(sluice.AttemptTimeout):
            await client.chat(model="m", messages=MESSAGES, timeout=0.05)
    assert asyncio.get_running_loop().time() == 0.05
    assert "timeout" not in script.bodies[0]


async def test_timeout_applies_to_each_attempt_of_a_retried_call() -> None:
    client, script, _ = slow(0.3, retry=sluice.Retry(attempts=2, budget=None))
    async with client:
        with pytest.raises(sluice.AttemptTimeout):
            await client.chat(model="m", messages=MESSAGES, timeout=0.1)
    assert len(script.times) == 2
    assert script.times[1] >= 0.1


async def test_a_total_bounds_every_attempt_and_the_backoffs() -> None:
    client, script, _ = slow(10.0)  # 3 attempts by default
    limits = sluice.Timeout(attempt=1.0, total=2.5)
    async with client:
        # The deadline, or a backoff that would pass it (the backoff is jittered).
        with pytest.raises(sluice.SluiceTimeoutError):
            await client.chat(model="m", messages=MESSAGES, timeout=limits)
    assert asyncio.get_running_loop().time() <= 2.5
    assert 2 <= len(script.times) <= 3


async def test_timeout_none_lifts_the_gates_limit_for_one_call() -> None:
    client, _, _ = slow(5.0, timeout=1.0, retry=None)
    async with client:
        result = await client.chat(model="m", messages=MESSAGES, timeout=None)
        with pytest.raises(sluice.AttemptTimeout):
            await client.chat(model="m", messages=MESSAGES)  # the gate's 1 s again
    assert result.text == "late"


async def test_timeout_on_embed_and_models_and_a_bad_one() -> None:
    client, script, _ = slow(2.0, MockResponse(json={"data": []}), retry=None)
    async with client:
        with pytest.raises(sluice.AttemptTimeout):
            await client.embed(model="e", input="x", timeout=1.0)
        with pytest.raises(sluice.AttemptTimeout):
            await client.models(timeout=1.0)
        with pytest.raises(sluice.ConfigError, match=r"chat\(timeout=\.\.\.\)"):
            await client.chat(model="m", messages=MESSAGES, timeout="5s")  # type: ignore[arg-type]
    assert script.bodies[0] == {"model": "e", "input": "x"}


def test_timeout_of_a_sync_call_is_a_time_limit_not_a_body_parameter() -> None:
    client, script, _ = slow(0.3, retry=None)
    with client, pytest.raises(sluice.AttemptTimeout):
        client.chat_sync(model="m", messages=MESSAGES, timeout=0.05)
    assert "timeout" not in script.bodies[0]


async def test_extra_query_headers_and_body() -> None:
    listing = MockResponse(json={"data": []})
    client, script, transport = client_for(ok(), listing)
    async with client:
        await client.chat(
            model="m",
            messages=MESSAGES,
            extra_query={"api-version": "2024-06-01", "tag": ["a", "b"]},
            extra_headers={"X-Trace": "t1"},
            extra_body={"top_k": 5},
        )
        await client.models(extra_query={"limit": 2})
    url = transport.requests[0].url
    assert url == BASE + "/chat/completions?api-version=2024-06-01&tag=a&tag=b"
    assert transport.requests[1].url == BASE + "/models?limit=2"
    assert script.headers[0]["x-trace"] == "t1"
    assert script.bodies[0]["top_k"] == 5


async def test_unknown_keywords_are_refused_naming_extra_body() -> None:
    client, script, _ = client_for()
    async with client:
        with pytest.raises(TypeError, match=r"'top_k'.*extra_body=\{'top_k': \.\.\.\}"):
            await client.chat(model="m", messages=MESSAGES, top_k=5)
        with pytest.raises(TypeError, match="did you mean 'max_tokens'"):
            await client.chat(model="m", messages=MESSAGES, max_token=5)
        with pytest.raises(TypeError, match=r"Client\(retry=\.\.\.\)"):
            await client.chat(model="m", messages=MESSAGES, max_retries=2)
        with pytest.raises(TypeError, match="stream_chat"):
            client.stream_chat(model="m", messages=MESSAGES, top_k=5)
        with pytest.raises(TypeError, match=r"embed\(\) got 'truncate'"):
            await client.embed(model="e", input="x", truncate=True)
        with pytest.raises(TypeError, match="extra_body must be a mapping"):
            await client.chat(model="m", messages=MESSAGES, extra_body=[1])  # type: ignore[arg-type]
    assert script.bodies == []  # nothing was sent


async def test_every_parameter_the_api_knows_is_sent() -> None:
    vectors = MockResponse(json={"data": [{"index": 0, "embedding": [1.0]}]})
    client, script, _ = client_for(ok(), vectors)
    params = {
        "temperature": 0,
        "top_p": 1,
        "n": 1,
        "stop": ["\n"],
        "max_completion_tokens": 9,
        "seed": 7,
        "response_format": {"type": "json_object"},
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "logprobs": True,
        "top_logprobs": 2,
        "user": "u",
        "reasoning_effort": "low",
        "service_tier": "auto",
        "metadata": {"k": "v"},
    }
    async with client:
        await client.chat(model="m", messages=MESSAGES, **params)
        await client.embed(model="e", input="x", dimensions=8, encoding_format="float", user="u")
    assert script.bodies[0] == {"model": "m", "messages": MESSAGES, **params}
    assert script.bodies[1]["dimensions"] == 8


async def test_bad_per_call_headers_and_query() -> None:
    client, script, _ = client_for()
    async with client:
        with pytest.raises(ValueError, match="line break"):
            await client.chat(model="m", messages=MESSAGES, extra_headers={"X-A": "1\r\nX-B: 2"})
        with pytest.raises(TypeError, match="extra_headers: header 'X-A'"):
            await client.chat(model="m", messages=MESSAGES, extra_headers={"X-A": 1})  # type: ignore[dict-item]
        with pytest.raises(TypeError, match="extra_query must be a mapping"):
            await client.chat(model="m", messages=MESSAGES, extra_query="a=1")  # type: ignore[arg-type]
    assert script.bodies == []

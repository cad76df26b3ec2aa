"""`Client.post`: bodies sent as given, answers returned undecoded."""

from __future__ import annotations

import pytest

import sluice
from sluice.llm import MockResponse

from .fakes import client_for, error_body


async def test_post_sends_the_body_as_given() -> None:
    answer = MockResponse(
        json={"choices": [{"text": "hi"}], "usage": {"prompt_tokens": 2, "completion_tokens": 1}},
        headers={"x-request-id": "req_9"},
    )
    client, script, _ = client_for(answer)
    async with client:
        body = {"model": "m", "prompt": "Hi", "odd_server_param": 1}
        result = await client.post("completions", body)
    assert script.bodies == [body]
    assert result.body["choices"][0]["text"] == "hi"
    assert result.status == 200
    assert result.request_id == "req_9"
    assert result.usage is not None
    assert result.usage.total_tokens == 3


async def test_post_errors_and_refusals() -> None:
    client, _, _ = client_for(MockResponse(status=400, json=error_body("bad")))
    async with client:
        with pytest.raises(sluice.llm.BadRequestError):
            await client.post("chat/completions", {"model": "m", "messages": []})
        with pytest.raises(sluice.ConfigError, match="must be one of"):
            await client.post("images", {})
        with pytest.raises(sluice.ConfigError, match="without stream"):
            await client.post("chat/completions", {"stream": True})

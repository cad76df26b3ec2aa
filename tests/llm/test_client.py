"""The client over a mock transport, on virtual time: results, errors, validation, secrets."""

from __future__ import annotations

import asyncio
import base64
import logging
import struct

import pytest

import sluice
from sluice import llm
from sluice.llm import Client, MockResponse, MockTransport

from .fakes import BASE, KEY, MESSAGES, client_for, completion, error_body, ok


async def test_chat_result() -> None:
    tool = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "add", "arguments": '{"a": 1}'},
    }
    answer = MockResponse(
        json=completion("Hi!", tool_calls=[tool], finish_reason="tool_calls"),
        headers={
            "X-Request-Id": "req_7",
            "x-ratelimit-limit-requests": "100",
            "x-ratelimit-remaining-requests": "99",
            "x-ratelimit-reset-requests": "600ms",
        },
    )
    client, script, _ = client_for(answer)
    async with client:
        result = await client.chat(model="m", messages=MESSAGES, max_tokens=5, temperature=0)
    assert result.text == "Hi!"
    assert result.finish_reason == "tool_calls"
    assert result.tool_calls == (llm.ToolCall("call_1", "add", '{"a": 1}'),)
    assert result.tool_calls[0].parsed_arguments() == {"a": 1}
    assert result.usage == llm.Usage(5, 2, 7)
    assert (result.model, result.id, result.status, result.request_id) == (
        "test-model",
        "chatcmpl-1",
        200,
        "req_7",
    )
    assert result.rate_limits == llm.RateLimits(100, 99, 0.6, None, None, None)
    assert result.latency == 0.0
    assert result.ttfb == 0.0
    assert len(result.choices) == 1
    assert result.raw["id"] == "chatcmpl-1"
    sent = script.bodies[0]
    assert sent == {"model": "m", "messages": MESSAGES, "max_tokens": 5, "temperature": 0}
    headers = script.headers[0]
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["content-type"] == "application/json"


async def test_latency_and_ttfb_on_virtual_time() -> None:
    async def slow(request: llm.Request) -> MockResponse:
        await asyncio.sleep(0.25)  # until headers
        return MockResponse(chunks=[0.5, b'{"choices": []}'])

    async with Client(BASE, transport=MockTransport(slow)) as client:
        result = await client.chat(model="m", messages=MESSAGES)
    assert (result.ttfb, result.latency) == (0.25, 0.75)
    assert result.text == ""
    assert result.usage is None


async def test_extra_headers_and_extra_body() -> None:
    client, script, _ = client_for(headers={"X-Team": "blue"})
    async with client:
        await client.chat(
            model="m",
            messages=MESSAGES,
            extra_headers={"X-Trace": "abc"},
            extra_body={"top_k": 3},
        )
    assert script.headers[0]["x-trace"] == "abc"
    assert script.headers[0]["x-team"] == "blue"
    assert script.bodies[0]["top_k"] == 3


async def test_embeddings_float_and_base64() -> None:
    packed = base64.b64encode(struct.pack("<3f", 0.5, -1.0, 2.0)).decode()
    floats = MockResponse(
        json={
            "data": [
                {"index": 1, "embedding": [3.0, 4.0]},
                {"index": 0, "embedding": [1.0, 2.0]},
            ],
            "model": "e",
            "usage": {"prompt_tokens": 4, "total_tokens": 4},
        }
    )
    b64 = MockResponse(json={"data": [{"index": 0, "embedding": packed}], "model": "e"})
    client, script, _ = client_for(floats, b64)
    async with client:
        first = await client.embed(model="e", input=["a", "b"])
        second = await client.embed(model="e", input="a", encoding_format="base64")
    assert first.vectors == ([1.0, 2.0], [3.0, 4.0])
    assert first.usage == llm.Usage(4, 0, 4)
    assert second.vectors == ([0.5, -1.0, 2.0],)
    assert script.bodies[1] == {"model": "e", "input": "a", "encoding_format": "base64"}


async def test_models() -> None:
    listing = MockResponse(
        json={"data": [{"id": "a", "owned_by": "me", "created": 1}, {"id": "b"}]}
    )
    client, _script, transport = client_for(listing)
    async with client:
        models = await client.models()
    assert models == (llm.Model("a", "me", 1), llm.Model("b"))
    assert transport.requests[0].method == "GET"
    assert transport.requests[0].url == BASE + "/models"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, llm.BadRequestError),
        (401, llm.AuthenticationError),
        (403, llm.PermissionDeniedError),
        (404, llm.NotFoundError),
        (422, llm.BadRequestError),
    ],
)
async def test_client_errors_are_not_retried(status: int, cls: type) -> None:
    answer = MockResponse(status, json=error_body("no"), headers={"x-request-id": "req_9"})
    client, script, _ = client_for(answer)
    async with client:
        with pytest.raises(llm.APIStatusError) as caught:
            await client.chat(model="m", messages=MESSAGES)
    assert type(caught.value) is cls
    assert len(script.times) == 1
    assert caught.value.status == status
    assert caught.value.request_id == "req_9"
    assert caught.value.message == "no"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (429, llm.RateLimitError),
        (500, llm.ServerError),
        (502, llm.ServerError),
        (503, llm.ServiceUnavailableError),
        (504, llm.ServerError),
        (529, llm.ServiceUnavailableError),
    ],
)
async def test_server_errors_are_retried_then_raised(status: int, cls: type) -> None:
    answer = MockResponse(status, json=error_body("busy"))
    client, script, _ = client_for(answer)
    async with client:
        with pytest.raises(cls) as caught:
            await client.chat(model="m", messages=MESSAGES)
    assert len(script.times) == 3  # the default: 3 attempts
    assert len(sluice.attempt_history(caught.value)) == 3


async def test_transient_failure_then_success() -> None:
    client, _, _ = client_for(
        ConnectionResetError("peer reset"), TimeoutError(), MockResponse(500), ok("fine")
    )
    async with client:
        with pytest.raises(llm.ServerError):
            await client.chat(model="m", messages=MESSAGES)
    client, _script, _ = client_for(ConnectionResetError("peer reset"), TimeoutError(), ok("fine"))
    async with client:
        result = await client.chat(model="m", messages=MESSAGES)
        stats = client.statistics()
    assert result.text == "fine"
    assert stats.transport_errors == 2
    assert stats.gate.retried == 2


async def test_connection_and_timeout_errors_are_mapped() -> None:
    client, _, _ = client_for(ConnectionRefusedError("refused"), retry=None)
    async with client:
        with pytest.raises(llm.APIConnectionError) as caught:
            await client.chat(model="m", messages=MESSAGES)
    assert isinstance(caught.value, ConnectionError)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    client, _, _ = client_for(TimeoutError("slow"), retry=None)
    async with client:
        with pytest.raises(llm.APITimeoutError) as timed_out:
            await client.chat(model="m", messages=MESSAGES)
    assert isinstance(timed_out.value, TimeoutError)


async def test_failure_while_reading_the_body_is_a_connection_error() -> None:
    answer = MockResponse(chunks=[b'{"choi', ConnectionResetError("cut")])
    client, script, _ = client_for(answer, ok("second"))
    async with client:
        result = await client.chat(model="m", messages=MESSAGES)
    assert result.text == "second"
    assert len(script.times) == 2


async def test_malformed_body() -> None:
    client, script, _ = client_for(MockResponse(content=b"<html>Welcome to nginx</html>"))
    async with client:
        with pytest.raises(llm.MalformedResponseError) as caught:
            await client.chat(model="m", messages=MESSAGES)
    text = str(caught.value)
    assert "HTTP 200" in text
    assert "<html>Welcome to nginx" in text
    assert caught.value.status == 200
    assert len(script.times) == 3  # a server fault: retried


@pytest.mark.parametrize(
    "body",
    [b'{"choices": "none"}', b"[1, 2, 3]", b'{"choices": [{"message": {"content": 5}}]}', b"{}"],
)
async def test_wrong_shapes_are_malformed(body: bytes) -> None:
    client, _, _ = client_for(MockResponse(content=body), retry=None)
    async with client:
        with pytest.raises(llm.MalformedResponseError, match="HTTP 200"):
            await client.chat(model="m", messages=MESSAGES)


async def test_odd_message_content_is_sent_and_estimated() -> None:
    seen: list[float] = []

    def estimator(body: object) -> float:
        seen.append(llm.estimate_tokens(body))  # type: ignore[arg-type]
        return seen[-1]

    messages: list[dict[str, object]] = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f"}}]},
        {"role": "tool", "content": 7},
    ]
    # The estimator runs only when the gate meters tokens.
    client, _, _ = client_for(token_estimator=estimator, rate=sluice.Rate(tpm=1_000_000))
    async with client:
        await client.chat(model="m", messages=messages)
    assert seen
    assert seen[0] > 0


async def test_no_token_estimate_is_made_for_a_gate_without_a_token_budget() -> None:
    seen: list[object] = []
    client, _, _ = client_for(token_estimator=lambda body: seen.append(body) or 1.0)
    async with client:
        await client.chat(model="m", messages=MESSAGES)
    assert seen == []


async def test_token_estimate_is_reserved_and_settled_from_usage() -> None:
    # 1 token per second, a bucket of 100: the first call books 100 and settles at 7 (its
    # usage), so the second, booking 100 again, waits for 7 tokens' worth: 7 s, not 100 s.
    client, script, _ = client_for(
        rate=sluice.Rate(tpm=60, token_burst=100), token_estimator=lambda body: 100
    )
    async with client:
        await client.chat(model="m", messages=MESSAGES)
        await client.chat(model="m", messages=MESSAGES)
    assert script.times == [0.0, 7.0]


async def test_validation_errors() -> None:
    with pytest.raises(sluice.ConfigError, match="base_url"):
        Client("api.openai.com/v1")
    with pytest.raises(sluice.ConfigError, match="max_connections"):
        Client(BASE, max_connections=0)
    with pytest.raises(sluice.ConfigError, match="gate"):
        Client(BASE, gate=sluice.Gate("g"), retry=2)
    with pytest.raises(sluice.ConfigError, match="transport"):
        Client(BASE, transport=object())  # type: ignore[arg-type]
    with pytest.raises(sluice.ConfigError, match=r"Client\(headers=...\): header 'x'"):
        Client(BASE, headers={"x": 1})  # type: ignore[dict-item]
    client, _, _ = client_for()
    async with client:
        with pytest.raises(TypeError, match="messages must be a list"):
            await client.chat(model="m", messages="hello")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="model"):
            await client.chat(model="", messages=MESSAGES)
        with pytest.raises(TypeError, match="JSON"):
            await client.chat(model="m", messages=MESSAGES, seed=object())
        with pytest.raises(sluice.ConfigError, match="stream_chat"):
            await client.chat(model="m", messages=MESSAGES, stream=True)


async def test_a_given_gate_is_used_and_left_open() -> None:
    gate = sluice.Gate("shared", concurrency=2)
    client, _, _ = client_for(gate=gate)
    async with client:
        await client.chat(model="m", messages=MESSAGES)
    assert client.gate is gate
    assert gate.statistics().succeeded == 1
    assert not gate.closed


async def test_defaults() -> None:
    client = Client(BASE, transport=MockTransport(lambda request: ok()))
    gate = client.gate
    assert gate.name == "llm:api.test"
    stats = gate.statistics()
    assert stats.concurrency_limit == 100
    assert stats.breaker is not None
    assert "retry=Retry(attempts=3" in repr(gate)
    assert "Timeout(attempt=300.0" in repr(gate)
    await client.aclose()
    assert gate.closed
    assert client.closed


async def test_closed_client_refuses_calls() -> None:
    client, script, transport = client_for()
    await client.aclose()
    await client.aclose()  # idempotent
    with pytest.raises(llm.ClientClosedError):
        await client.chat(model="m", messages=MESSAGES)
    assert script.times == []
    assert transport.closed


async def test_api_key_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    echo = MockResponse(401, json=error_body(f"Incorrect API key provided: {KEY}."))
    garbage = MockResponse(content=f"token={KEY}".encode())
    secret_header = "hdr-secret-abcdef"
    client, _, _ = client_for(
        echo,
        garbage,
        breaker=sluice.Breaker(min_calls=1, window=1),
        headers={"X-Api-Key": secret_header},
    )
    caplog.set_level(logging.DEBUG)
    texts = [repr(client), str(client.statistics())]
    async with client:
        for _ in range(2):
            try:
                await client.chat(model="m", messages=MESSAGES)
            except sluice.SluiceError as exc:
                texts += [str(exc), repr(exc), *getattr(exc, "__notes__", [])]
                texts += [str(vars(exc))]
        texts += [repr(client), str(client.statistics()), repr(client.gate)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(request) for request in client._transport.requests]  # type: ignore[attr-defined]
    joined = "\n".join(texts)
    assert "[redacted]" in joined
    assert KEY not in joined
    assert secret_header not in joined
    assert "api_key=***" in repr(client)


async def test_base_url_credentials_are_hidden() -> None:
    client = Client("https://user:pw@api.test/v1/", transport=MockTransport(lambda r: ok()))
    assert client.base_url == "https://api.test/v1"
    assert "pw" not in repr(client)
    assert client.gate.name == "llm:api.test"
    await client.aclose()


def test_a_client_outlives_the_loop_it_was_used_on() -> None:
    client, script, _ = client_for()

    async def call() -> None:
        await client.chat(model="m", messages=MESSAGES)

    asyncio.run(call())
    asyncio.run(call())  # that loop ended: this one takes the client over
    asyncio.run(client.aclose())
    assert len(script.times) == 2
    assert client.closed


def test_sync_twins_from_plain_code() -> None:
    listing = MockResponse(json={"data": [{"id": "a"}]})
    embeddings = MockResponse(json={"data": [{"index": 0, "embedding": [1.0]}]})
    stream = MockResponse.sse([{"choices": [{"index": 0, "delta": {"content": "yo"}}]}])
    client, script, _ = client_for(ok("sync"), embeddings, listing, stream)
    with client:
        assert client.chat_sync(model="m", messages=MESSAGES, max_tokens=3).text == "sync"
        assert client.embed_sync(model="e", input="x").vectors == ([1.0],)
        assert client.models_sync() == (llm.Model("a"),)
        with client.stream_chat_sync(model="m", messages=MESSAGES) as deltas:
            assert [d.text for d in deltas] == ["yo"]
        assert deltas.text == "yo"
    assert client.closed
    assert script.bodies[0]["max_tokens"] == 3


async def test_sync_twin_of_a_client_owned_by_this_loop_is_refused() -> None:
    client, _, _ = client_for()
    async with client:
        await client.chat(model="m", messages=MESSAGES)
        with pytest.raises(RuntimeError, match="on the event loop that runs this client"):
            client.chat_sync(model="m", messages=MESSAGES)
        with pytest.raises(RuntimeError, match="aclose"):
            client.close()


async def test_an_error_object_with_status_200_is_raised() -> None:
    proxy = MockResponse(json={"error": {"message": "upstream failed", "code": 502}})
    refused = MockResponse(json={"error": {"message": "bad field", "code": 400}})
    client, script, _ = client_for(proxy, refused, retry=2)
    async with client:
        with pytest.raises(llm.BadRequestError, match="bad field"):
            await client.chat(model="m", messages=MESSAGES)
    assert len(script.times) == 2  # the 502-like error was retried, the 400-like one not


def test_aclose_from_another_loop_closes_on_the_owning_one() -> None:
    client, _, transport = client_for()
    client.chat_sync(model="m", messages=MESSAGES)  # the pool now belongs to the portal loop
    asyncio.run(client.aclose())
    assert client.closed
    assert transport.closed

"""`Client.responses` and `Client.stream_responses` on scripted answers, on virtual time."""

from __future__ import annotations

from typing import Any

import pytest

import sluice
from sluice import llm
from sluice.llm import MockResponse
from sluice.openai import (
    ResponseEventEncoder,
    decode_object,
    function_call_item,
    message_item,
    response_object,
    response_usage,
)

from .fakes import client_for, error_body


def response(
    text: str = "Hello!", *, usage: tuple[int, int] = (5, 2), status: str = "completed"
) -> dict[str, Any]:
    return response_object(
        id="resp_1",
        created_at=0,
        model="test-model",
        status=status,
        output=[message_item("msg_1", text, status)],
        usage=response_usage(*usage),
        incomplete_reason="max_output_tokens" if status == "incomplete" else None,
    )


def answer(**kwargs: Any) -> MockResponse:
    return MockResponse(json=response(**kwargs), headers={"x-request-id": "req_1"})


def events(*pieces: object, end: bool = True, usage: tuple[int, int] = (5, 2)) -> list[object]:
    """A stream's events as the protocol encoder writes them (numbers: pauses)."""
    encoder = ResponseEventEncoder()
    opening = response(usage=usage)
    out: list[object] = [decode(encoder.event("response.created", response=opening))]
    for piece in pieces:
        if isinstance(piece, str):
            out.append(decode(encoder.text_delta("msg_1", 0, [f'"{piece}"'.encode()])))
        else:
            out.append(piece)
    if end:
        text = "".join(p for p in pieces if isinstance(p, str))
        final = response(text, usage=usage)
        out.append(decode(encoder.event("response.completed", response=final)))
    return out


def decode(event: bytes) -> dict[str, Any]:
    return decode_object(event.split(b"data: ", 1)[1])


async def test_a_response_is_typed_and_its_call_sent_as_given() -> None:
    call = function_call_item("fc_1", "call_1", "lookup", '{"q": "x"}', "completed")
    body = response()
    body["output"].append(call)
    client, script, _ = client_for(MockResponse(json=body))
    async with client:
        result = await client.responses(
            model="m", input="Hi", instructions="Be terse.", max_output_tokens=20
        )
    assert script.bodies == [
        {"model": "m", "input": "Hi", "instructions": "Be terse.", "max_output_tokens": 20}
    ]
    assert script.times == [0.0]
    assert result.text == "Hello!"
    assert result.status == "completed"
    assert result.http_status == 200
    assert result.usage == llm.ResponseUsage(5, 2, 7)
    [function] = result.function_calls
    assert function.parsed_arguments() == {"q": "x"}
    assert function.output("42") == {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": "42",
    }
    assert result.raw["id"] == "resp_1"


async def test_the_token_estimate_is_settled_from_the_response_usage() -> None:
    # 1 token a second, a bucket of 100: each call books 100 and settles at 7, so the second
    # waits 7 s, not 100 s; the same for streams.
    rate = sluice.Rate(tpm=60, token_burst=100)
    client, script, _ = client_for(answer(), rate=rate, token_estimator=lambda body: 100)
    async with client:
        await client.responses(model="m", input="Hi")
        await client.responses(model="m", input="Hi")
    assert script.times == [0.0, 7.0]
    streamed = MockResponse.sse(events("a", "b"), done=False)
    client, script, _ = client_for(streamed, rate=rate, token_estimator=lambda body: 100)
    async with client:
        for _ in range(2):
            async with client.stream_responses(model="m", input="Hi") as stream:
                await stream.final()
    assert script.times[1] - script.times[0] == 7.0


async def test_a_stream_gives_events_timings_and_the_final_response() -> None:
    streamed = MockResponse.sse(events(0.5, "Hel", 0.25, "lo!"), done=False)
    client, script, _ = client_for(streamed)
    async with client:
        stream = client.stream_responses(model="m", input="Hi", max_output_tokens=30)
        kinds = [(event.type, event.delta) async for event in stream]
    assert script.bodies[0]["stream"] is True
    assert kinds == [
        ("response.created", ""),
        ("response.output_text.delta", "Hel"),
        ("response.output_text.delta", "lo!"),
        ("response.completed", ""),
    ]
    assert stream.text == "Hello!"
    assert stream.status == "completed"
    assert stream.usage is not None
    assert stream.usage.total_tokens == 7
    assert stream.ttft == pytest.approx(0.5)
    assert stream.itl == pytest.approx((0.25,))


async def test_a_stream_failing_before_content_is_retried_and_after_it_interrupted() -> None:
    cut = MockResponse.sse(events("a", end=False), done=False)
    client, script, _ = client_for(MockResponse(503, json=error_body("busy")), cut, retry=3)
    async with client:
        stream = client.stream_responses(model="m", input="Hi")
        with pytest.raises(llm.StreamInterrupted, match="before its last event") as caught:
            await stream.final()
    assert len(script.times) == 2  # the 503 was retried, the cut stream was not
    assert caught.value.text == "a"


async def test_failed_responses_and_error_events_raise_their_error() -> None:
    failed = response()
    failed["status"] = "failed"
    failed["error"] = {"code": "server_error", "message": "the model broke"}
    for last in (
        {"type": "response.failed", "sequence_number": 1, "response": failed},
        {"type": "error", "sequence_number": 1, "code": "server_error", "message": "oops"},
    ):
        stream_events = [*events(end=False), last]
        client, _, _ = client_for(MockResponse.sse(stream_events, done=False), retry=None)
        async with client:
            with pytest.raises(llm.ServerError):
                await client.stream_responses(model="m", input="Hi").final()


async def test_arguments_are_checked_before_sending() -> None:
    client, script, _ = client_for(answer())
    async with client:
        with pytest.raises(TypeError, match="extra_body"):
            await client.responses(model="m", input="Hi", max_tokens=5)
        with pytest.raises(TypeError, match="input must be"):
            await client.responses(model="m", input=3)  # type: ignore[arg-type]
        with pytest.raises(sluice.ConfigError, match="stream_responses"):
            await client.responses(model="m", input="Hi", stream=True)
        with pytest.raises(sluice.ConfigError, match="always streams"):
            client.stream_responses(model="m", input="Hi", stream=False)
        result = await client.responses(model="m", input="Hi", extra_body={"top_k": 2})
        raw = await client.post("responses", {"model": "m", "input": "Hi"})
    assert script.bodies[0]["top_k"] == 2
    assert result.text == "Hello!"
    assert raw.usage is not None
    assert raw.usage.total_tokens == 7


async def test_an_incomplete_response_says_why() -> None:
    client, _, _ = client_for(answer(status="incomplete"))
    async with client:
        result = await client.responses(model="m", input="Hi")
    assert result.status == "incomplete"
    assert result.incomplete_reason == "max_output_tokens"


def test_sync_twins() -> None:
    client, script, _ = client_for(answer(), MockResponse.sse(events("a", "b"), done=False))
    with client:
        result = client.responses_sync(model="m", input="Hi")
        with client.stream_responses_sync(model="m", input="Hi") as stream:
            deltas = [event.delta for event in stream if event.delta]
    assert result.text == "Hello!"
    assert deltas == ["a", "b"]
    assert stream.text == "ab"
    assert stream.usage is not None
    assert len(script.times) == 2

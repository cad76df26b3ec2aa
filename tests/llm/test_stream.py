"""Streaming over the mock transport on virtual time: deltas, timings, usage, failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import sluice
from sluice import llm
from sluice.llm import MockResponse

from .fakes import MESSAGES, chunk, client_for, usage_chunk


def role() -> dict[str, Any]:
    return chunk(role="assistant", content="")


async def collect(stream: llm.ChatStream) -> list[llm.ChatDelta]:
    return [delta async for delta in stream]


async def test_stream_with_usage_and_timings() -> None:
    answer = MockResponse.sse(
        [
            0.5,
            role(),
            chunk("Hel"),
            0.25,
            chunk("lo"),
            0.125,
            chunk("!", finish="stop"),
            usage_chunk(5, 3),
        ],
        headers={"x-request-id": "req_s", "x-ratelimit-remaining-tokens": "10"},
    )
    client, script, transport = client_for(answer)
    async with client:
        stream = client.stream_chat(model="m", messages=MESSAGES, temperature=0)
        deltas = await collect(stream)
    assert [d.text for d in deltas] == ["Hel", "lo", "!", ""]
    assert deltas[2].finish_reason == "stop"
    assert deltas[-1].usage == llm.Usage(5, 3, 8)
    assert stream.text == "Hello!"
    assert stream.finish_reason == "stop"
    assert stream.usage == llm.Usage(5, 3, 8)
    assert stream.ttft == 0.5
    assert stream.itl == (0.25, 0.125)
    assert stream.ttfb == 0.0
    assert stream.latency == 0.875
    assert stream.request_id == "req_s"
    assert stream.status == 200
    assert stream.rate_limits is not None
    assert stream.rate_limits.tokens_remaining == 10
    assert script.bodies[0]["stream"] is True
    assert script.bodies[0]["stream_options"] == {"include_usage": True}
    assert transport.open_responses == 0


async def test_stream_options_can_be_given_or_dropped() -> None:
    client, script, _ = client_for(MockResponse.sse([chunk("a", finish="stop")]))
    async with client:
        await collect(client.stream_chat(model="m", messages=MESSAGES, stream_options=None))
        await collect(client.stream_chat(model="m", messages=MESSAGES, stream_options={"x": 1}))
    assert "stream_options" not in script.bodies[0]
    assert script.bodies[1]["stream_options"] == {"x": 1}


async def test_tool_calls_are_assembled() -> None:
    first = {"index": 0, "id": "call_1", "function": {"name": "add", "arguments": '{"a":'}}
    rest = {"index": 0, "function": {"arguments": " 1}"}}
    answer = MockResponse.sse(
        [chunk(tool_calls=[first]), chunk(tool_calls=[rest]), chunk(finish="tool_calls")]
    )
    client, _, _ = client_for(answer)
    async with client:
        stream = client.stream_chat(model="m", messages=MESSAGES)
        deltas = await collect(stream)
    assert deltas[0].tool_calls == (llm.ToolCallDelta(0, "call_1", "add", '{"a":'),)
    assert stream.tool_calls == (llm.ToolCall("call_1", "add", '{"a": 1}'),)
    assert stream.finish_reason == "tool_calls"
    assert stream.ttft == 0.0


async def test_failure_before_the_first_token_is_retried() -> None:
    broken = MockResponse.sse([role(), ConnectionResetError("early")], done=False)
    good = MockResponse.sse([chunk("ok", finish="stop")])
    client, script, transport = client_for(broken, MockResponse(503), good)
    async with client:
        stream = client.stream_chat(model="m", messages=MESSAGES)
        deltas = await collect(stream)
    assert [d.text for d in deltas] == ["ok"]
    assert len(script.times) == 3
    assert transport.open_responses == 0


async def test_failure_after_the_first_token_is_not_retried() -> None:
    broken = MockResponse.sse(
        [chunk("Hel"), 0.5, chunk("lo"), ConnectionResetError("peer gone")], done=False
    )
    client, script, transport = client_for(broken, MockResponse.sse([chunk("again")]))
    received: list[str] = []

    async def consume(stream: llm.ChatStream) -> None:
        async for delta in stream:
            received.append(delta.text)

    async with client:
        with pytest.raises(llm.StreamInterrupted) as caught:
            await consume(client.stream_chat(model="m", messages=MESSAGES))
        stats = client.statistics()
    error = caught.value
    assert received == ["Hel", "lo"]
    assert error.text == "Hello"
    assert error.deltas == 2
    assert error.retryable is False
    assert isinstance(error.__cause__, llm.APIConnectionError)
    assert "peer gone" in str(error)
    assert len(script.times) == 1
    assert stats.streams_interrupted == 1
    assert transport.open_responses == 0


async def test_attempt_timeout_mid_stream_ends_it_without_backoff_or_retry() -> None:
    slow = MockResponse.sse([chunk("partial"), 10.0, chunk("never")])
    client, script, transport = client_for(slow, timeout=1.0)  # 3 attempts, retry budget
    async with client:
        stream = client.stream_chat(model="m", messages=MESSAGES)
        with pytest.raises(llm.StreamInterrupted) as caught:
            await collect(stream)
        stats = client.statistics()
    assert asyncio.get_running_loop().time() == 1.0  # the timeout, no backoff after it
    assert stats.gate.retried == 0  # a retry would have spent a token of the retry budget
    assert caught.value.text == "partial"
    assert "the attempt timed out" in str(caught.value)
    assert stats.streams_interrupted == 1
    assert len(script.times) == 1
    assert transport.open_responses == 0


async def test_per_call_timeout_mid_stream_ends_it_without_retry() -> None:
    slow = MockResponse.sse([chunk("partial"), 10.0, chunk("never")])
    client, script, _ = client_for(slow)  # the gate's own timeout: 300 s per attempt
    async with client:
        stream = client.stream_chat(model="m", messages=MESSAGES, timeout=0.5)
        with pytest.raises(llm.StreamInterrupted, match="the attempt timed out"):
            await collect(stream)
        assert client.statistics().gate.retried == 0
    assert asyncio.get_running_loop().time() == 0.5
    assert len(script.times) == 1


async def test_deadline_mid_stream_becomes_stream_interrupted() -> None:
    slow = MockResponse.sse([chunk("partial"), 10.0, chunk("never")])
    client, _script, _ = client_for(slow, timeout=sluice.Timeout(total=2.0), retry=None)
    async with client:
        with pytest.raises(llm.StreamInterrupted) as caught:
            await collect(client.stream_chat(model="m", messages=MESSAGES))
    assert isinstance(caught.value.__cause__, sluice.DeadlineExceeded)
    assert asyncio.get_running_loop().time() == 2.0


@pytest.mark.parametrize(
    ("events", "error"),
    [
        ([b"data: {not json\n\n"], llm.MalformedResponseError),
        ([b"data: [1, 2]\n\n"], llm.MalformedResponseError),
        ([{"error": {"message": "model crashed", "code": 500}}], llm.ServerError),
        ([{"error": {"message": "bad input", "code": 400}}], llm.BadRequestError),
        ([role()], llm.APIConnectionError),  # ended before any [DONE] or finish_reason
    ],
)
async def test_bad_streams_before_content(events: list[object], error: type) -> None:
    client, _script, _ = client_for(MockResponse.sse(events, done=False), retry=None)
    async with client:
        with pytest.raises(error):
            await collect(client.stream_chat(model="m", messages=MESSAGES))


async def test_malformed_event_after_content_is_an_interruption_naming_the_bytes() -> None:
    answer = MockResponse.sse([chunk("a"), b"data: {oops\n\n"], done=False)
    client, script, _ = client_for(answer)
    async with client:
        with pytest.raises(llm.StreamInterrupted) as caught:
            await collect(client.stream_chat(model="m", messages=MESSAGES))
    assert isinstance(caught.value.__cause__, llm.MalformedResponseError)
    assert "{oops" in str(caught.value.__cause__)
    assert len(script.times) == 1


async def test_a_stream_ending_with_finish_reason_but_no_done_is_complete() -> None:
    client, _, _ = client_for(MockResponse.sse([chunk("a", finish="stop")], done=False))
    async with client:
        stream = client.stream_chat(model="m", messages=MESSAGES)
        await collect(stream)
    assert stream.text == "a"


async def test_error_status_of_a_stream_is_raised_like_a_call() -> None:
    refusal = MockResponse(401, json={"error": {"message": "who are you"}})
    client, script, _ = client_for(refusal)
    async with client:
        with pytest.raises(llm.AuthenticationError, match="who are you"):
            await collect(client.stream_chat(model="m", messages=MESSAGES))
    assert len(script.times) == 1


async def test_breaking_out_releases_the_response() -> None:
    endless = MockResponse.sse([chunk(str(i)) for i in range(100)])
    client, _, transport = client_for(endless)
    async with client:
        async with client.stream_chat(model="m", messages=MESSAGES) as stream:
            async for delta in stream:
                if delta.text == "3":
                    break
        assert transport.open_responses == 0
        assert client.gate.statistics().in_flight == 0
    assert stream.text.startswith("0123")


async def test_cancelling_the_consumer_releases_the_response() -> None:
    slow = MockResponse.sse([chunk("a"), 100.0, chunk("b")])
    client, _, transport = client_for(slow)
    got_first = asyncio.Event()

    async def consume() -> None:
        async for _ in client.stream_chat(model="m", messages=MESSAGES):
            got_first.set()

    async with client:
        task = asyncio.create_task(consume())
        await got_first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        assert transport.open_responses == 0
        stats = client.gate.statistics()
    assert stats.in_flight == 0
    assert stats.cancelled == 1
    assert asyncio.get_running_loop().time() < 100


async def test_a_stream_is_iterated_once_and_lazily() -> None:
    client, script, _ = client_for(MockResponse.sse([chunk("a", finish="stop")]))
    async with client:
        stream = client.stream_chat(model="m", messages=MESSAGES)
        assert script.times == []  # nothing sent before iteration
        await collect(stream)
        with pytest.raises(RuntimeError, match="once"):
            await collect(stream)
        unused = client.stream_chat(model="m", messages=MESSAGES)
        await unused.aclose()
    assert len(script.times) == 1


async def test_streams_hold_a_concurrency_permit_until_the_end() -> None:
    slow = MockResponse.sse([chunk("a"), 1.0, chunk("b", finish="stop")])
    client, script, _ = client_for(slow, concurrency=1)
    async with client:
        await asyncio.gather(
            collect(client.stream_chat(model="m", messages=MESSAGES)),
            collect(client.stream_chat(model="m", messages=MESSAGES)),
        )
    assert script.times == [0.0, 1.0]


async def test_stream_usage_settles_the_token_budget() -> None:
    answer = MockResponse.sse([chunk("a", finish="stop"), usage_chunk(3, 4)])
    client, script, _ = client_for(
        answer, rate=sluice.Rate(tpm=60, token_burst=100), token_estimator=lambda body: 100
    )
    async with client:
        await collect(client.stream_chat(model="m", messages=MESSAGES))
        await collect(client.stream_chat(model="m", messages=MESSAGES))
    assert script.times == [0.0, 7.0]


def test_sync_stream_interrupted() -> None:
    broken = MockResponse.sse([chunk("x"), ConnectionResetError()], done=False)
    client, _, transport = client_for(broken)
    with client:
        stream = client.stream_chat_sync(model="m", messages=MESSAGES)
        seen: list[str] = []
        with pytest.raises(llm.StreamInterrupted):
            seen.extend(delta.text for delta in stream)
        assert seen == ["x"]
        assert stream.text == "x"
    assert transport.open_responses == 0

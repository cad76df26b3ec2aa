"""Many requests over one client: each request one gate call, never a call inside a call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import sluice
from sluice import llm
from sluice.llm import Client, MockResponse, MockTransport

from .fakes import BASE, MESSAGES, completion, error_body


class Server:
    """Answers with the request's first message as text, after ``delay`` seconds (or a
    scripted status for some texts); counts the requests in flight."""

    def __init__(self, delay: float = 1.0, fail: dict[str, int] | None = None) -> None:
        self.delay = delay
        self.fail = fail or {}
        self.in_flight = 0
        self.most = 0
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    async def __call__(self, request: llm.Request) -> MockResponse:
        body = request.json()
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if "input" in body:
            return MockResponse(json={"data": [{"index": 0, "embedding": [len(body["input"])]}]})
        text = body["messages"][0]["content"]
        if text in self.fail:
            return MockResponse(self.fail[text], json=error_body(f"no {text}"))
        return MockResponse(json=completion(text))


def asking(*texts: str) -> list[dict[str, Any]]:
    return [{"messages": [{"role": "user", "content": text}]} for text in texts]


def client_for(server: Server, **settings: Any) -> Client:
    return Client(BASE, transport=MockTransport(server), **settings)


async def test_more_requests_than_permits_all_complete_in_order() -> None:
    server = Server()
    async with client_for(server, concurrency=2) as client:
        results = await client.chat_many(asking(*"abcdefghij"), model="m")
        stats = client.statistics().gate
    assert [result.text for result in results] == list("abcdefghij")
    assert asyncio.get_running_loop().time() == 5.0  # 10 requests, 2 at a time, 1 s each
    assert server.most == 2
    assert stats.calls_started == 10  # one gate call per request: none nested in another
    assert [result.latency for result in results][:3] == [1.0, 1.0, 1.0]  # pulled when free


async def test_a_shared_gate_with_one_permit_does_not_deadlock() -> None:
    gate = sluice.Gate("shared", concurrency=1)
    server = Server(delay=0.5)
    async with client_for(server, gate=gate) as client:
        results = await client.chat_many(asking("a", "b", "c"), model="m", window=3)
    assert [result.text for result in results] == ["a", "b", "c"]
    assert gate.statistics().calls_started == 3


async def test_common_arguments_and_per_request_ones() -> None:
    server = Server(delay=0.0)
    requests = [
        {"messages": MESSAGES},
        {"messages": MESSAGES, "max_tokens": 9, "extra_headers": {"X-Tag": "2"}},
        {"messages": MESSAGES, "model": "other", "extra_body": {"top_k": 3}},
    ]
    async with client_for(server) as client:
        await client.chat_many(requests, model="m", max_tokens=5, temperature=0)
    assert [body["model"] for body in server.bodies] == ["m", "m", "other"]
    assert [body["max_tokens"] for body in server.bodies] == [5, 9, 5]
    assert all(body["temperature"] == 0 for body in server.bodies)
    assert server.bodies[2]["top_k"] == 3
    assert server.headers[1]["x-tag"] == "2"


async def test_errors_returned_per_request() -> None:
    server = Server(fail={"b": 400})
    async with client_for(server) as client:
        outcomes = await client.chat_many(asking("a", "b", "c"), model="m", errors="return")
    assert [outcome.ok for outcome in outcomes] == [True, False, True]
    first, failed = outcomes[0], outcomes[1]
    assert isinstance(first, sluice.Ok)
    assert first.value.text == "a"
    assert isinstance(failed, sluice.Err)
    assert isinstance(failed.error, llm.BadRequestError)


async def test_the_first_failure_is_raised_and_names_its_request() -> None:
    server = Server(fail={"b": 401})
    async with client_for(server, concurrency=1) as client:
        with pytest.raises(llm.AuthenticationError) as caught:
            await client.chat_many(asking("a", "b", "c", "d"), model="m")
    assert "item 1 failed" in "\n".join(caught.value.__notes__)
    assert len(server.bodies) == 2  # the rest never started


async def test_a_retried_request_is_retried_alone() -> None:
    answers = iter([MockResponse(503), MockResponse(json=completion("again"))])

    def handler(request: llm.Request) -> MockResponse:
        if request.json()["messages"][0]["content"] == "flaky":
            return next(answers)
        return MockResponse(json=completion("fine"))

    async with Client(BASE, transport=MockTransport(handler)) as client:
        results = await client.chat_many(asking("ok", "flaky"), model="m")
        stats = client.statistics().gate
    assert [result.text for result in results] == ["fine", "again"]
    assert stats.retried == 1
    assert stats.calls_started == 2


@pytest.mark.parametrize(
    ("requests", "error", "message"),
    [
        ([{"messages": MESSAGES, "top_k": 1}], TypeError, "extra_body"),
        ([{"messages": MESSAGES, "timeout": 5}], TypeError, r"Client\(timeout=\.\.\.\)"),
        ([{"messages": MESSAGES, "stream": True}], TypeError, "stream_chat"),
        ([{"messages": "hi"}], TypeError, "messages must be a list"),
        (["hello"], TypeError, "request 0 is a str"),
        ("hello", TypeError, "takes a list"),
    ],
)
async def test_a_request_that_cannot_be_sent_stops_with_a_clear_error(
    requests: Any, error: type[Exception], message: str
) -> None:
    server = Server(delay=0.0)
    async with client_for(server) as client:
        with pytest.raises(error, match=message) as caught:
            await client.chat_many(requests, model="m")
    if not isinstance(requests, str):  # the note or the message names the request
        assert "request 0" in "\n".join([str(caught.value), *caught.value.__notes__])
    assert server.bodies == []


async def test_chat_iter_yields_as_requests_finish_and_stops_when_left() -> None:
    server = Server(delay=0.0)

    async def handler(request: llm.Request) -> MockResponse:
        server.delay = {"slow": 3.0, "fast": 1.0}.get(request.json()["messages"][0]["content"], 2)
        return await server(request)

    async with Client(BASE, transport=MockTransport(handler)) as client:
        seen = []
        async with client.chat_iter(asking("slow", "fast", "mid"), model="m") as results:
            async for index, outcome in results:
                seen.append((index, outcome.value.text, asyncio.get_running_loop().time()))
        many = asking("slow", "fast", *["slow"] * 20)
        async with client.chat_iter(many, model="m", window=2) as results:
            async for pair in results:
                first = pair[0]
                break  # the call still in flight is cancelled, the rest never pulled
        stats = client.statistics().gate
    assert seen == [(1, "fast", 1.0), (2, "mid", 2.0), (0, "slow", 3.0)]
    assert first == 1
    assert stats.calls_started == 3 + 2  # the window; nothing more was pulled
    assert stats.cancelled == 1  # "slow", still running
    assert asyncio.get_running_loop().time() == 4.0  # 3 s, then 1 s until "fast" answered


async def test_embed_many_and_an_async_source() -> None:
    async def chunks() -> AsyncIterator[dict[str, Any]]:
        for text in ("a", "bb", "ccc"):
            yield {"input": text}

    server = Server(delay=0.0)
    async with client_for(server) as client:
        results = await client.embed_many(chunks(), model="e", dimensions=4)
        outcomes = await client.embed_many([{"input": "x"}], model="e", errors="return")
        with pytest.raises(TypeError, match=r"embed_many\(\) got 'truncate'"):
            await client.embed_many([{"input": "x", "truncate": 1}], model="e")
    assert [result.vectors for result in results] == [([1],), ([2],), ([3],)]
    assert all(body["dimensions"] == 4 for body in server.bodies[:3])
    assert outcomes[0].ok


def test_sync_twins_of_the_fan_out() -> None:
    server = Server(delay=0.01)
    with client_for(server, concurrency=2) as client:
        results = client.chat_many_sync(asking("a", "b", "c"), model="m")
        outcomes = client.embed_many_sync([{"input": "xy"}], model="e", errors="return")
    assert [result.text for result in results] == ["a", "b", "c"]
    assert outcomes[0].ok


async def test_the_clients_gate_can_map_a_function_that_calls_the_client() -> None:
    server = Server()
    async with client_for(server, concurrency=2) as client:

        async def one(text: str) -> str:  # the natural way: a function around client.chat
            reply = await client.chat(model="m", messages=[{"role": "user", "content": text}])
            return reply.text

        results = await asyncio.wait_for(client.gate.map(one, list("abcdef")), 60)
    assert results == list("abcdef")
    assert server.most == 2  # nested calls ran on their callers' permits: the limit held

"""The clients users already have, inside a gate, against the simulator's injected faults:
their 429s, 5xx and lost connections are retried (Retry-After honoured), their 4xx are not,
and the async SDK's decorated methods are awaited on the loop."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import anthropic
import httpx
import httpx2
import openai
import pytest
import requests

import sluice
from sluice.sim import SimConfig, SimServer

pytestmark = pytest.mark.realtime

MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Name a river."}
]
BODY = {"model": "sim-model", "messages": [{"role": "user", "content": "Name a river."}]}


def faulty(**faults: float) -> SimConfig:
    return SimConfig(output_tokens=4, retry_after=0.05, faults=faults, seed=11)


def retrying_gate(name: str, attempts: int = 10) -> sluice.Gate:
    # No retry budget: the faults here are far above what a budget lets through. A short
    # backoff for the errors without Retry-After (500, 503 from the simulator).
    retry = sluice.Retry(attempts=attempts, backoff=sluice.Backoff.constant(0.02), budget=None)
    return sluice.Gate(name, concurrency=4, retry=retry)


async def test_the_async_openai_sdk_retries_its_429s_and_5xx() -> None:
    async with SimServer(faulty(**{"429": 0.3, "503": 0.15, "500": 0.15})) as sim:
        client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
        # 60 % of answers are faults: with 10 attempts, 21 calls would all get through only
        # 88 % of the time (0.6 ** 10 per call); with 25, all but once in ten thousand runs.
        async with client, retrying_gate("openai", attempts=25) as gate:
            create = client.chat.completions.create
            replies = await gate.map(
                lambda _: create(model="sim-model", messages=MESSAGES), range(20)
            )
            one = await gate.run(create, model="sim-model", messages=MESSAGES)
            assert all(reply.choices[0].message.content for reply in [*replies, one])
            stats = gate.statistics()
        served = sim.metrics()
    assert stats.succeeded == 21
    assert stats.retried > 0
    assert stats.retried == served.status_count(429) + served.status_count(503) + (
        served.status_count(500)
    )


async def test_the_sync_openai_sdk_runs_on_threads_and_retries() -> None:
    async with SimServer(faulty(**{"503": 0.4})) as sim:
        client = openai.OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
        with client:
            async with retrying_gate("openai-sync") as gate:
                for _ in range(5):
                    reply = await gate.run(
                        client.chat.completions.create, model="sim-model", messages=MESSAGES
                    )
                    assert reply.choices[0].message.content
                stats = gate.statistics()
    assert (stats.succeeded, stats.retried > 0) == (5, True)


async def test_an_openai_bad_request_is_not_retried_and_does_not_trip_the_breaker() -> None:
    async with SimServer(faulty(**{"400": 1.0})) as sim:
        client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
        breaker = sluice.Breaker(failure_rate=0.5, window=4, min_calls=2)
        async with client, sluice.Gate("openai", retry=5, breaker=breaker) as gate:
            for _ in range(4):
                with pytest.raises(openai.BadRequestError):
                    await gate.run(
                        client.chat.completions.create, model="sim-model", messages=MESSAGES
                    )
            stats = gate.statistics()
    assert stats.retried == 0
    assert stats.breaker is not None
    assert stats.breaker.state == "closed"


async def test_an_unreachable_server_is_a_retried_connection_error() -> None:
    with socket_closed_port() as port:
        client = openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test", max_retries=0
        )
        async with client, sluice.Gate("openai", retry=3) as gate:
            with pytest.raises(openai.APIConnectionError):
                await gate.run(client.models.list)
            assert gate.statistics().retried == 2


async def test_httpx_status_errors_are_retried() -> None:
    async with (
        SimServer(faulty(**{"500": 0.5})) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as client,
        retrying_gate("httpx") as gate,
    ):

        async def ask() -> Any:
            response = await client.post("/chat/completions", json=BODY)
            response.raise_for_status()
            return response.json()

        answers = await gate.map(lambda _: ask(), range(6))
        assert len(answers) == 6
        assert gate.statistics().retried > 0


async def test_requests_on_threads_honours_retry_after() -> None:
    async with SimServer(faulty(**{"429": 0.5})) as sim:
        url = sim.base_url + "/chat/completions"

        def ask() -> Any:
            response = requests.post(url, json=BODY, timeout=10)
            response.raise_for_status()
            return response.json()

        async with retrying_gate("requests") as gate:
            for _ in range(4):
                assert (await gate.run(ask))["choices"]
            assert gate.statistics().retried > 0


async def test_urllib_http_errors_are_retried() -> None:
    async with SimServer(faulty(**{"503": 0.5})) as sim:
        request = urllib.request.Request(
            sim.base_url + "/chat/completions",
            data=json.dumps(BODY).encode(),
            headers={"content-type": "application/json"},
        )

        def ask() -> Any:
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return json.load(response)
            except urllib.error.HTTPError as exc:
                exc.close()  # its socket; the status and headers stay readable
                raise

        async with retrying_gate("urllib") as gate:
            for _ in range(4):
                assert (await gate.run(ask))["choices"]
            assert gate.statistics().retried > 0


async def test_aiohttp_response_errors_are_retried() -> None:
    async with (
        SimServer(faulty(**{"429": 0.5})) as sim,
        aiohttp.ClientSession(raise_for_status=True) as session,
    ):

        async def ask() -> Any:
            async with session.post(sim.base_url + "/chat/completions", json=BODY) as response:
                return await response.json()

        async with retrying_gate("aiohttp") as gate:
            assert len(await gate.map(lambda _: ask(), range(6))) == 6
            assert gate.statistics().retried > 0


async def test_anthropics_overloaded_answer_is_retried_after_its_retry_after() -> None:
    answers = iter(
        [
            httpx2.Response(
                529,
                headers={"retry-after": "0.2"},
                json={"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
            ),
            httpx2.Response(
                200,
                json={
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-test",
                    "content": [{"type": "text", "text": "The Rhine."}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 5, "output_tokens": 3},
                },
            ),
        ]
    )
    http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(lambda request: next(answers)))
    client = anthropic.AsyncAnthropic(api_key="sk-test", http_client=http_client, max_retries=0)
    loop = asyncio.get_running_loop()
    async with client, sluice.Gate("anthropic", retry=3) as gate:
        start = loop.time()
        message = await gate.run(
            client.messages.create,
            model="claude-test",
            max_tokens=10,
            messages=[{"role": "user", "content": "Name a river."}],
        )
        waited = loop.time() - start
    assert message.content[0].text == "The Rhine."  # type: ignore[union-attr]
    assert waited >= 0.2


class socket_closed_port:
    """A loopback port nothing listens on (bound, then released)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])

    def __exit__(self, *exc_info: object) -> None:
        pass

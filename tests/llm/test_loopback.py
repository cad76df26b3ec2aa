"""The aiohttp transport over real loopback sockets, against the simulator (`sluice.sim`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import sluice
from sluice import llm
from sluice.llm import AiohttpTransport, Client
from sluice.sim import SimConfig, SimServer

from .hostile import refusing_port

pytestmark = pytest.mark.realtime

KEY = "sk-loopback-secret"
MESSAGES = [{"role": "user", "content": "Tell me a story."}]


@asynccontextmanager
async def serving(
    config: SimConfig | None = None, **client_settings: Any
) -> AsyncIterator[tuple[SimServer, Client]]:
    async with (
        SimServer(config or SimConfig(retry_after=0.05)) as sim,
        Client(sim.base_url, api_key=KEY, **client_settings) as client,
    ):
        yield sim, client


def fault(name: str) -> dict[str, str]:
    return {"x-sim-fault": name}


async def test_chat_stream_embeddings_models() -> None:
    async with serving(SimConfig(rpm=6000, tpm=1_000_000)) as (_sim, client):
        result = await client.chat(model="sim-model", messages=MESSAGES, max_tokens=8)
        stream = client.stream_chat(model="sim-model", messages=MESSAGES, max_tokens=8)
        text = "".join([delta.text async for delta in stream])
        vectors = await client.embed(model="sim-embedding", input=["a", "b", "c"])
        packed = await client.embed(model="sim-embedding", input="a", encoding_format="base64")
        models = await client.models()
        stats = client.statistics()
    assert result.usage is not None
    assert result.usage.completion_tokens == 8
    assert result.finish_reason == "length"
    assert result.request_id
    assert result.request_id.startswith("req_")
    assert result.rate_limits is not None
    assert result.rate_limits.requests_limit == 6000
    assert 0 <= result.ttfb <= result.latency < 5
    assert text == stream.text == result.text  # the simulator's content is deterministic
    assert stream.usage is not None
    assert stream.usage.total_tokens == result.usage.total_tokens
    assert stream.ttft is not None
    assert len(stream.itl) == 7
    assert len(vectors.vectors) == 3
    assert len(vectors.vectors[0]) == 256
    assert packed.vectors[0] == pytest.approx(vectors.vectors[0], abs=1e-6)
    assert [m.id for m in models] == ["sim-model", "sim-embedding"]
    learned = stats.gate.rate
    assert learned is not None
    assert learned.requests_per_second == pytest.approx(100)


async def test_forced_429_is_retried_after_retry_after() -> None:
    async with serving() as (_sim, client):
        started = time.monotonic()
        with pytest.raises(llm.RateLimitError) as caught:
            await client.chat(model="sim-model", messages=MESSAGES, extra_headers=fault("429"))
        elapsed = time.monotonic() - started
        stats = client.statistics()
    assert caught.value.retry_after == 0.05  # from retry-after-ms, preferred to retry-after
    assert stats.responses == {429: 3}
    assert stats.gate.retried == 2
    assert elapsed >= 0.1  # two waits of 50 ms


async def test_forced_reset_mid_stream_is_interrupted_not_retried() -> None:
    async with serving() as (_sim, client):
        stream = client.stream_chat(
            model="sim-model", messages=MESSAGES, extra_headers=fault("reset")
        )
        with pytest.raises(llm.StreamInterrupted) as caught:
            async for _ in stream:
                pass
        stats = client.statistics()
    assert caught.value.text
    assert caught.value.deltas > 0
    assert isinstance(caught.value.__cause__, llm.APIConnectionError)
    assert stats.requests == 1


async def test_truncated_and_malformed_streams() -> None:
    async with serving(retry=None) as (_sim, client):
        for name in ("truncate", "malformed"):
            with pytest.raises(llm.StreamInterrupted):
                async for _ in client.stream_chat(
                    model="sim-model", messages=MESSAGES, extra_headers=fault(name)
                ):
                    pass
        with pytest.raises(llm.MalformedResponseError, match="HTTP 200"):
            await client.chat(
                model="sim-model", messages=MESSAGES, extra_headers=fault("malformed")
            )
        with pytest.raises(llm.ServiceUnavailableError):
            await client.chat(model="sim-model", messages=MESSAGES, extra_headers=fault("529"))


async def test_cancelling_a_stream_releases_its_connection() -> None:
    # One connection only: if the stalled stream kept it, the next call would never get one.
    transport = AiohttpTransport(max_connections=1)
    async with serving(transport=transport, concurrency=1) as (_sim, client):
        stream = client.stream_chat(
            model="sim-model", messages=MESSAGES, extra_headers=fault("stall")
        )
        async with stream:
            async for delta in stream:
                if delta.text:
                    break
        async with asyncio.timeout(5):
            result = await client.chat(model="sim-model", messages=MESSAGES, max_tokens=2)
        # Cancel a consumer stuck in the stall, too.
        stalled = client.stream_chat(
            model="sim-model", messages=MESSAGES, extra_headers=fault("stall")
        )

        async def consume() -> None:
            async for _ in stalled:
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(5):
            again = await client.chat(model="sim-model", messages=MESSAGES, max_tokens=2)
    assert result.usage is not None
    assert again.usage is not None


async def test_read_timeout_and_refused_connection_are_mapped() -> None:
    transport = AiohttpTransport(read_timeout=0.2)
    async with serving(transport=transport, retry=None) as (_sim, client):
        with pytest.raises(llm.APITimeoutError) as caught:
            await client.chat(model="sim-model", messages=MESSAGES, extra_headers=fault("hang"))
    assert isinstance(caught.value, TimeoutError)
    with refusing_port() as port:
        async with Client(f"http://127.0.0.1:{port}/v1", retry=None) as client:
            with pytest.raises(llm.APIConnectionError) as refused:
                await client.chat(model="m", messages=MESSAGES)
    assert isinstance(refused.value, ConnectionError)
    assert str(port) in str(refused.value)


async def test_api_key_is_sent_and_never_shown() -> None:
    async with serving() as (_sim, client):
        with pytest.raises(llm.BadRequestError) as caught:
            await client.chat(model="sim-model", messages=MESSAGES, extra_headers=fault("400"))
        texts = [str(caught.value), repr(client), str(client.statistics())]
    assert all(KEY not in text for text in texts)


def test_transport_on_a_second_loop_is_refused() -> None:
    with refusing_port() as port:
        url = f"http://127.0.0.1:{port}/v1/models"
        transport = AiohttpTransport()
        request = llm.Request("GET", url, {})
        first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
        try:
            with pytest.raises(llm.APIConnectionError):
                first.run_until_complete(transport.send(request))
            with pytest.raises(RuntimeError, match="another event loop"):
                second.run_until_complete(transport.send(request))
            first.run_until_complete(transport.aclose())
        finally:
            first.close()
            second.close()


def test_sync_twins_over_loopback() -> None:
    # The simulator runs on the portal loop too, so plain sync code can reach it.
    sim = SimServer(SimConfig())
    sluice.run_sync(sim.__aenter__)
    try:
        with Client(sim.base_url, api_key=KEY) as client:
            result = client.chat_sync(model="sim-model", messages=MESSAGES, max_tokens=3)
            vectors = client.embed_sync(model="sim-embedding", input="x")
            text = "".join(
                d.text for d in client.stream_chat_sync(model="sim-model", messages=MESSAGES)
            )
    finally:
        sluice.run_sync(sim.__aexit__, None, None, None)
    assert result.usage is not None
    assert result.usage.completion_tokens == 3
    assert len(vectors.vectors) == 1
    assert text

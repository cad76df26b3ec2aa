"""The simulator over real loopback sockets, with aiohttp as the client."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from sluice.sim import SimConfig, SimServer, count_tokens

pytestmark = pytest.mark.realtime

CHAT = {"model": "sim-model", "messages": [{"role": "user", "content": "Tell me a story."}]}
AUTH = {"Authorization": "Bearer sk-test"}


@asynccontextmanager
async def serving(**settings: Any) -> AsyncIterator[tuple[SimServer, aiohttp.ClientSession]]:
    async with (
        SimServer(SimConfig(**settings)) as sim,
        aiohttp.ClientSession(sim.base_url + "/", headers=AUTH) as session,
    ):
        yield sim, session


async def post(
    session: aiohttp.ClientSession,
    body: object,
    fault: str | None = None,
    path: str = "chat/completions",
) -> tuple[int, dict[str, str], bytes]:
    headers = {"x-sim-fault": fault} if fault else {}
    async with session.post(path, json=body, headers=headers) as response:
        headers = {name.lower(): value for name, value in response.headers.items()}
        return response.status, headers, await response.read()


def events(raw: bytes) -> list[bytes]:
    return [line[6:] for line in raw.split(b"\n\n") if line.startswith(b"data: ")]


def stream_text(raw: bytes) -> str:
    text = ""
    for data in events(raw):
        if data != b"[DONE]":
            for choice in json.loads(data)["choices"]:
                text += choice["delta"].get("content") or ""
    return text


async def test_health_models_and_metrics() -> None:
    async with serving(models=("alpha", "beta")) as (sim, session):
        async with session.get(sim.url + "/healthz") as response:
            assert response.status == 200
        async with session.get("models") as response:
            models = await response.json()
        assert [m["id"] for m in models["data"]] == ["alpha", "beta"]
        async with session.get("models/beta") as response:
            assert (await response.json())["id"] == "beta"
        await post(session, CHAT)
        async with session.get(sim.url + "/metrics") as response:
            text = await response.text()
        assert response.headers["content-type"].startswith("text/plain")
        for name in (
            "sim_requests_total",
            "sim_requests_active",
            "sim_requests_queued",
            "sim_emission_lateness_seconds",
        ):
            assert f"# TYPE {name} " in text
        assert 'sim_requests_total{endpoint="/v1/chat/completions",status="200"} 1' in text
        assert sim.metrics().status_count(200) >= 1


async def test_content_is_deterministic_and_usage_matches_it() -> None:
    async with serving(output_tokens=40) as (_, session):
        status, _, first = await post(session, CHAT)
        _, _, again = await post(session, CHAT)
        _, _, other = await post(session, {**CHAT, "messages": [{"role": "user", "content": "x"}]})
        _, _, capped = await post(session, {**CHAT, "max_tokens": 5})
    assert status == 200
    body, repeat = json.loads(first), json.loads(again)
    content = body["choices"][0]["message"]["content"]
    assert content == repeat["choices"][0]["message"]["content"]
    assert content != json.loads(other)["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens"] == count_tokens(content) == 40
    assert body["usage"]["prompt_tokens"] == 3 + 3 + count_tokens("Tell me a story.") == 11
    assert body["choices"][0]["finish_reason"] == "stop"
    short = json.loads(capped)
    assert short["usage"]["completion_tokens"] == 5
    assert short["choices"][0]["finish_reason"] == "length"
    assert content.startswith(short["choices"][0]["message"]["content"])


async def test_stream_with_usage_and_done() -> None:
    async with serving(itl=0.001, output_tokens=12) as (sim, session):
        _, _, whole = await post(session, CHAT)
        stream_body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
        status, headers, raw = await post(session, stream_body)
        assert sim.metrics().lateness_count >= 12
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    data = events(raw)
    assert data[-1] == b"[DONE]"
    usage_chunk = json.loads(data[-2])
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == 12
    assert json.loads(data[-3])["choices"][0]["finish_reason"] == "stop"
    assert json.loads(data[0])["choices"][0]["delta"]["role"] == "assistant"
    assert stream_text(raw) == json.loads(whole)["choices"][0]["message"]["content"]


async def test_completions_and_embeddings() -> None:
    async with serving(embedding_dim=16) as (_, session):
        status, _, raw = await post(session, {"model": "m", "prompt": "Once"}, path="completions")
        assert status == 200
        assert json.loads(raw)["choices"][0]["text"]
        body = {"model": "m", "prompt": "Once", "stream": True}
        _, _, streamed = await post(session, body, path="completions")
        assert events(streamed)[-1] == b"[DONE]"
        body = {"model": "e", "input": ["a b", "c"]}
        _, _, raw = await post(session, body, path="embeddings")
        floats = json.loads(raw)
        assert [len(d["embedding"]) for d in floats["data"]] == [16, 16]
        assert floats["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
        body = {"model": "e", "input": "a b", "encoding_format": "base64", "dimensions": 8}
        _, _, raw = await post(session, body, path="embeddings")
        packed = base64.b64decode(json.loads(raw)["data"][0]["embedding"])
        assert len(packed) == 8 * 4


async def test_context_length_and_unsupported_n() -> None:
    async with serving(context_length=20) as (_, session):
        long = {**CHAT, "messages": [{"role": "user", "content": "word " * 30}]}
        status, _, raw = await post(session, long)
        assert status == 400
        error = json.loads(raw)["error"]
        assert error["code"] == "context_length_exceeded"
        assert set(error) == {"message", "type", "param", "code"}
        status, _, raw = await post(session, {**CHAT, "max_tokens": 15})
        assert status == 400  # 11 prompt + 15 completion > 20
        status, _, raw = await post(session, {**CHAT, "n": 3})
        assert status == 400
        assert json.loads(raw)["error"]["param"] == "n"


@pytest.mark.parametrize(
    ("fault", "status", "error_type", "retry_after"),
    [
        ("400", 400, "invalid_request_error", False),
        ("429", 429, "requests", True),
        ("500", 500, "server_error", False),
        ("503", 503, "server_error", True),
        ("529", 529, "overloaded_error", True),
    ],
)
async def test_immediate_faults(
    fault: str, status: int, error_type: str, retry_after: bool
) -> None:
    async with serving(retry_after=2.5, rpm=100) as (sim, session):
        got, headers, raw = await post(session, CHAT, fault=fault)
        assert sim.metrics().faults == {fault: 1}
    assert got == status
    error = json.loads(raw)["error"]
    assert error["type"] == error_type
    assert error["param"] is None
    assert "x-ratelimit-limit-requests" in headers
    if retry_after:
        assert headers["retry-after"] == "3"
        assert headers["retry-after-ms"] == "2500"
    else:
        assert "retry-after" not in headers


async def test_unknown_fault_is_a_clear_400() -> None:
    async with serving() as (_, session):
        status, _, raw = await post(session, CHAT, fault="explode")
    assert status == 400
    assert "known faults" in json.loads(raw)["error"]["message"]


async def test_truncated_and_malformed_streams() -> None:
    stream = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with serving(output_tokens=10) as (_, session):
        _, _, truncated = await post(session, stream, fault="truncate")
        _, _, malformed = await post(session, stream, fault="malformed")
        _, _, whole_truncated = await post(session, CHAT, fault="truncate")
        _, _, whole_malformed = await post(session, CHAT, fault="malformed")
    assert b"[DONE]" not in truncated
    assert b'finish_reason":"stop' not in truncated
    assert len(events(truncated)) == 1 + 5  # role chunk, then half of the 10 tokens
    assert events(malformed)[-1] == b"[DONE]"
    bad = [e for e in events(malformed)[:-1] if not _is_json(e)]
    assert len(bad) == 1
    assert not _is_json(whole_truncated)
    assert not _is_json(whole_malformed)


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("stream", [True, False])
async def test_reset_drops_the_connection_mid_response(stream: bool) -> None:
    async with serving(output_tokens=10) as (sim, session):
        with pytest.raises(aiohttp.ClientPayloadError):
            await post(session, {**CHAT, "stream": stream}, fault="reset")
        # The server is fine afterwards.
        status, _, _ = await post(session, CHAT)
        assert status == 200
        assert sim.metrics().faults == {"reset": 1}


async def test_hang_stall_and_slow_are_bounded() -> None:
    stream = {**CHAT, "stream": True}
    async with serving(max_hang=0.2, slow_itl=0.05, output_tokens=4) as (_, session):
        started = time.monotonic()
        status, _, raw = await post(session, CHAT, fault="hang")
        assert status == 200
        assert json.loads(raw)["usage"]["completion_tokens"] == 4
        assert 0.2 <= time.monotonic() - started < 10
        started = time.monotonic()
        _, _, raw = await post(session, stream, fault="stall")
        assert events(raw)[-1] == b"[DONE]"
        assert 0.2 <= time.monotonic() - started < 10
        started = time.monotonic()
        _, _, raw = await post(session, stream, fault="slow")
        assert events(raw)[-1] == b"[DONE]"
        assert 0.15 <= time.monotonic() - started < 10


async def test_client_giving_up_frees_the_slot() -> None:
    async with serving(max_hang=30.0, max_concurrency=1, max_queue=0) as (sim, session):
        with pytest.raises(asyncio.TimeoutError):
            async with asyncio.timeout(0.2):
                await post(session, CHAT, fault="hang")
        for _ in range(100):  # the server notices the disconnect promptly
            if sim.metrics().active == 0:
                break
            await asyncio.sleep(0.02)
        assert sim.metrics().active == 0
        status, _, _ = await post(session, CHAT)
        assert status == 200


async def test_rate_limit_headers_and_429() -> None:
    async with serving(rpm=2, tpm=10_000, burst=60.0) as (_, session):  # a minute at once
        first = await post(session, CHAT)
        second = await post(session, CHAT)
        third = await post(session, CHAT)
        other = {"Authorization": "Bearer sk-other"}
        async with session.post("chat/completions", json=CHAT, headers=other) as response:
            other_status = response.status
    assert first[0] == second[0] == 200
    headers = first[1]
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "1"
    assert headers["x-ratelimit-reset-requests"] == "30s"
    assert headers["x-ratelimit-limit-tokens"] == "10000"
    assert headers["x-ratelimit-remaining-tokens"] == str(10_000 - 11 - 16)
    assert headers["x-ratelimit-reset-tokens"].endswith("ms")
    assert second[1]["x-ratelimit-remaining-requests"] == "0"
    status, headers, raw = third
    assert status == 429
    assert int(headers["retry-after"]) >= 29
    assert 29_000 <= int(headers["retry-after-ms"]) <= 30_000
    error = json.loads(raw)["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["type"] == "requests"
    assert other_status == 200


@pytest.mark.parametrize("overflow_status", [429, 503])
async def test_capacity_overflow(overflow_status: int) -> None:
    config = {
        "ttft": 0.15,
        "max_concurrency": 1,
        "max_queue": 1,
        "overflow_status": overflow_status,
    }
    async with serving(**config) as (sim, session):
        busy = [asyncio.create_task(post(session, CHAT)) for _ in range(2)]
        for _ in range(100):
            if sim.metrics().queued == 1:
                break
            await asyncio.sleep(0.01)
        status, headers, raw = await post(session, CHAT)
        assert [(await task)[0] for task in busy] == [200, 200]
    assert status == overflow_status
    assert headers["retry-after"] == "1"
    assert json.loads(raw)["error"]["code"] == "capacity_exceeded"


async def test_random_faults_follow_error_rate_unless_overridden() -> None:
    async with serving(error_rate=1.0) as (_, session):
        assert (await post(session, CHAT))[0] == 500
        assert (await post(session, CHAT, fault="none"))[0] == 200


async def test_leaving_the_server_ends_streams_in_progress() -> None:
    sim = SimServer(SimConfig(itl=1.0, output_tokens=100))
    async with aiohttp.ClientSession() as session:
        await sim.__aenter__()
        try:
            body = {**CHAT, "stream": True}
            async with session.post(sim.base_url + "/chat/completions", json=body) as response:
                assert (await response.content.readline()).startswith(b"data: ")
                started = time.monotonic()
                stopping = asyncio.create_task(sim.__aexit__(None, None, None))
                rest = await response.read()
                await stopping
        finally:
            await sim.__aexit__(None, None, None)  # idempotent
    assert time.monotonic() - started < 10  # not the 99 s the stream had left
    assert b"[DONE]" not in rest

"""A misbehaving server cannot exhaust the client's memory nor escape its error tree: bodies and
stream events are bounded, JSON too deep for the decoder is a sluice error."""

from __future__ import annotations

import asyncio
import gzip

import pytest

import sluice
from sluice import llm
from sluice.llm import AiohttpTransport, Client, MockResponse

from .fakes import MESSAGES, client_for
from .hostile import Sent, head, serving

MIB = 1024 * 1024
DEEP = b"[" * 100_000 + b"]" * 100_000


async def endless_body(writer: asyncio.StreamWriter, sent: Sent) -> None:
    await sent.write(writer, head(content_type="application/json", transfer_encoding="chunked"))
    piece = b"x" * 65536
    frame = b"%x\r\n%s\r\n" % (len(piece), piece)
    while True:  # until the client hangs up (or the server's own cap)
        await sent.write(writer, frame)


async def huge_declared_body(writer: asyncio.StreamWriter, sent: Sent) -> None:
    await sent.write(writer, head(content_type="application/json", content_length="10" + "0" * 10))
    await sent.write(writer, b'{"choices": [')
    await asyncio.sleep(5)


async def inflating_body(writer: asyncio.StreamWriter, sent: Sent) -> None:
    packed = gzip.compress(b"0" * (64 * MIB))
    headers = head(content_encoding="gzip", content_length=str(len(packed)))
    await sent.write(writer, headers + packed)


async def endless_event(writer: asyncio.StreamWriter, sent: Sent) -> None:
    await sent.write(writer, head(content_type="text/event-stream", connection="close"))
    line = b"data: " + b"x" * 1000 + b"\n"
    while True:  # lines, but never the blank line that would end the event
        await sent.write(writer, line * 64)


@pytest.mark.realtime
async def test_an_endless_body_is_refused_at_max_body_size() -> None:
    async with serving(endless_body) as (url, sent):
        transport = AiohttpTransport(max_body_size=4 * MIB)
        async with Client(url, transport=transport) as client:
            with pytest.raises(llm.ResponseTooLargeError, match="max_body_size=4194304") as caught:
                await client.chat(model="m", messages=MESSAGES)
    assert caught.value.status == 200
    assert not caught.value.retryable  # the same request brings the same answer
    assert len(sent.requests or []) == 1
    assert sent.bytes < 64 * MIB  # the client hung up, a socket buffer or two after the limit


@pytest.mark.realtime
async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    async with serving(huge_declared_body) as (url, _sent), Client(url, retry=None) as client:
        async with asyncio.timeout(3):  # the server then waits 5 s: nothing is read
            with pytest.raises(llm.ResponseTooLargeError, match="declares 100000000000 bytes"):
                await client.chat(model="m", messages=MESSAGES)


@pytest.mark.realtime
async def test_a_compressed_body_is_bounded_as_it_inflates() -> None:
    async with serving(inflating_body) as (url, _sent):
        transport = AiohttpTransport(max_body_size=MIB)
        async with Client(url, transport=transport, retry=None) as client:
            with pytest.raises(llm.ResponseTooLargeError, match="sent more than 1048576 bytes"):
                await client.chat(model="m", messages=MESSAGES)


@pytest.mark.realtime
async def test_an_event_that_never_ends_is_refused_at_max_event_size() -> None:
    async with (
        serving(endless_event) as (url, sent),
        Client(url, max_event_size=256 * 1024) as client,
    ):
        stream = client.stream_chat(model="m", messages=MESSAGES)
        with pytest.raises(llm.ResponseTooLargeError, match="max_event_size") as caught:
            async for _ in stream:
                pass
        stats = client.statistics()
    assert "exceeds 262144 bytes" in str(caught.value)
    assert stats.gate.retried == 0
    assert len(sent.requests or []) == 1
    assert sent.bytes < 64 * MIB


def test_the_default_limits() -> None:
    assert AiohttpTransport().max_body_size == 256 * MIB
    assert sluice.openai.MAX_EVENT_SIZE == 16 * MIB


@pytest.mark.parametrize(
    "settings",
    [
        {"read_timeout": -1},
        {"read_timeout": float("nan")},
        {"connect_timeout": -1},
        {"connect_timeout": float("inf")},
        {"keepalive": -5},
        {"keepalive": 0},
        {"max_connections": 0},
        {"max_connections": 2.5},
        {"max_body_size": 0},
        {"trust_env": "yes"},
    ],
)
def test_transport_settings_are_checked(settings: dict[str, object]) -> None:
    (name,) = settings
    with pytest.raises(sluice.ConfigError, match=rf"AiohttpTransport\({name}=\.\.\.\)"):
        AiohttpTransport(**settings)  # type: ignore[arg-type]


def test_client_limit_is_checked() -> None:
    with pytest.raises(sluice.ConfigError, match=r"Client\(max_event_size=\.\.\.\)"):
        Client("http://api.test/v1", max_event_size=0)


async def test_json_too_deep_in_an_answer_is_a_malformed_response() -> None:
    client, _, _ = client_for(MockResponse(content=b'{"choices": ' + DEEP + b"}"), retry=None)
    async with client:
        with pytest.raises(llm.MalformedResponseError, match="nests JSON arrays or objects too"):
            await client.chat(model="m", messages=MESSAGES)


async def test_json_too_deep_in_an_error_body_is_a_status_error() -> None:
    client, _, _ = client_for(MockResponse(500, content=b'{"error": ' + DEEP + b"}"), retry=None)
    async with client:
        with pytest.raises(llm.ServerError, match=r"HTTP 500 .*\[\[\[") as caught:
            await client.chat(model="m", messages=MESSAGES)
    assert caught.value.status == 500


async def test_json_too_deep_in_a_stream_event_is_a_malformed_response() -> None:
    event = b"data: " + DEEP + b"\n\n"
    client, _, _ = client_for(MockResponse.sse([event]), retry=None)
    async with client:
        with pytest.raises(llm.MalformedResponseError, match="nests JSON"):
            async for _ in client.stream_chat(model="m", messages=MESSAGES):
                pass

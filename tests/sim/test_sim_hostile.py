"""Hostile clients on raw loopback sockets: malformed, oversized, slow and idle requests all
get a 4xx with an OpenAI-shaped JSON body (or, having sent nothing, a closed connection),
and none holds a connection open beyond the simulator's limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from sluice.sim import SimConfig, SimServer

pytestmark = pytest.mark.realtime

WAIT = 10.0  # bound of every read: far above the limits under test, so never reached
LIMITS: dict[str, Any] = {"header_timeout": 0.3, "body_timeout": 0.3, "max_header_bytes": 4096}


async def exchange(data: bytes, *, trickle: bytes = b"") -> tuple[bytes, SimServer]:
    """What a simulator with `LIMITS` answers to ``data`` (see `until_closed`), and itself."""
    async with SimServer(SimConfig(**LIMITS)) as sim:
        return await until_closed(sim.port, data, trickle=trickle), sim


def post(path: str, body: bytes, *, close: bool = True) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nhost: sim\r\ncontent-type: application/json\r\n"
    head += f"content-length: {len(body)}\r\n" + ("connection: close\r\n" if close else "")
    return head.encode() + b"\r\n" + body


def parse(raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Status, headers and body of the one HTTP response in ``raw``."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def error_of(raw: bytes) -> tuple[int, dict[str, Any]]:
    status, headers, body = parse(raw)
    assert headers[b"content-type"] == b"application/json"
    error: dict[str, Any] = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return status, error


async def until_closed(port: int, data: bytes, *, trickle: bytes = b"") -> bytes:
    """Send ``data`` (then ``trickle`` one byte every 50 ms); all the server sends until it
    closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)

        async def drip() -> None:
            for byte in trickle:
                await asyncio.sleep(0.05)
                writer.write(bytes([byte]))

        dripping = asyncio.ensure_future(drip())
        try:
            async with asyncio.timeout(WAIT):
                return await reader.read()
        finally:
            dripping.cancel()
            await asyncio.wait({dripping})
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/chat/completions", b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        (
            "/v1/chat/completions",
            json.dumps(
                {"model": "m", "messages": [{"role": "user", "content": "\ud800"}]}
            ).encode(),
            "lone UTF-16 surrogate",
        ),
        ("/v1/chat/completions", b'{"model": "m\xc3\x28"}', "not UTF-8 text"),
        ("/v1/completions", b'{"model": "m", "prompt": {"a": 1}}', "prompt must be a string"),
        (
            "/v1/embeddings",
            json.dumps({"model": "e", "input": ["a"] * 2048, "dimensions": 8192}).encode(),
            "at most 1048576 per request (its max_embedding_values setting)",
        ),
    ],
)
async def test_malformed_requests_get_a_json_400(path: str, body: bytes, message: str) -> None:
    raw, sim = await exchange(post(path, body))
    status, error = error_of(raw)
    assert status == 400
    assert message in error["message"]
    assert sim.metrics().status_count(500) == 0


async def test_an_announced_oversized_body_is_refused_unread() -> None:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: sim\r\ncontent-length: 99999999999\r\n\r\n"
    status, error = error_of((await exchange(head + b"{"))[0])
    assert status == 413
    assert "max_body_bytes" in error["message"]


async def test_a_slow_body_gets_408_and_the_connection_closes() -> None:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: sim\r\ncontent-length: 500\r\n\r\n{"
    # Two bytes (0.1 s), then silence: a byte written after the server's close would draw a
    # reset that can destroy the answer before it is read.
    raw, _ = await exchange(head, trickle=b"  ")
    status, error = error_of(raw)
    assert status == 408
    assert "body_timeout" in error["message"]


async def test_headers_sent_slowly_get_408_and_the_connection_closes() -> None:
    raw, _ = await exchange(b"POST /v1/chat/completions HTTP/1.1\r\n", trickle=b"x-")
    status, error = error_of(raw)
    assert status == 408
    assert error["code"] == "request_timeout"
    assert "header_timeout" in error["message"]


async def test_a_connection_that_sends_nothing_is_closed_without_an_answer() -> None:
    assert (await exchange(b""))[0] == b""


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET /healthz HTTP/1.1\r\nhost: sim\r\nx-big: " + b"a" * 10_000 + b"\r\n\r\n",  # whole
        b"GET /healthz HTTP/1.1\r\nx-big: " + b"a" * 10_000,  # a header line without its end
        b"GET /" + b"a" * 10_000,  # a request line without its end
    ],
)
async def test_oversized_headers_get_431(request_head: bytes) -> None:
    status, error = error_of((await exchange(request_head))[0])
    assert status == 431
    assert "max_header_bytes" in error["message"]


async def test_bytes_that_are_not_http_get_a_json_400() -> None:
    status, error = error_of((await exchange(b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n"))[0])
    assert status == 400
    assert error["type"] == "invalid_request_error"


async def test_answers_slower_than_header_timeout_and_kept_alive_connections_work() -> None:
    chat = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    # The answer takes twice the header timeout: the deadline applies to headers only.
    async with SimServer(SimConfig(ttft=0.6, output_tokens=2, **LIMITS)) as sim:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        try:
            async with asyncio.timeout(WAIT):
                for _ in range(2):  # one connection, a request after the other
                    writer.write(post("/v1/chat/completions", chat, close=False))
                    status, headers, _ = parse(await reader.readuntil(b"\r\n\r\n"))
                    assert status == 200
                    body = await reader.readexactly(int(headers[b"content-length"]))
                    assert json.loads(body)["usage"]["completion_tokens"] == 2
                # Two requests at once (pipelined), and the last one closes.
                writer.write(post("/v1/completions", b'{"model": "m", "prompt": "x"}', close=False))
                writer.write(post("/v1/completions", b'{"model": "m", "prompt": "y"}'))
                answers = await reader.read()
        finally:
            writer.close()
        assert answers.count(b"HTTP/1.1 200 OK") == 2
        assert sim.metrics().status_count(200) == 4

"""How each kind of answer is classified, through both clients, over real loopback sockets."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest

from sluice.bench._samples import OK, OUTCOMES
from sluice.bench._senders import open_target
from sluice.bench._sweep import preflight
from sluice.bench._targets import Reply, TargetSpec, check_url, classify_status
from sluice.sim import SimConfig, SimServer

pytestmark = pytest.mark.realtime

SIM = SimConfig(ttft=0.01, itl=0.002, output_tokens=5, max_hang=2.0)


async def _one(spec: TargetSpec) -> Reply:
    loop = asyncio.get_running_loop()
    async with open_target(spec, clock=loop.time) as send:
        return await send()


@pytest.mark.parametrize("client", ["aiohttp", "sluice"])
async def test_successes_streamed_or_not(client: str) -> None:
    async with SimServer(SIM) as sim:
        plain = await _one(TargetSpec(sim.base_url, client=client))
        streamed = await _one(TargetSpec(sim.base_url, client=client, stream=True))
    assert (plain.outcome, plain.status, plain.tokens) == (OK, 200, 5)
    assert plain.first_token is None
    assert streamed.outcome == OK, streamed.detail
    assert streamed.tokens == 5
    assert streamed.first_token is not None
    assert len(streamed.gaps) == 4  # five content chunks


@pytest.mark.parametrize("client", ["aiohttp", "sluice"])
@pytest.mark.parametrize(
    ("fault", "stream", "expected"),
    [
        ("429", False, "429"),
        ("500", False, "5xx"),
        ("503", True, "5xx"),
        ("400", False, "other_status"),
        ("truncate", True, "mid_stream"),
        ("reset", True, "mid_stream"),
        ("malformed", False, "bad_response"),
        ("hang", False, "timeout"),
    ],
)
async def test_failure_classes(client: str, fault: str, stream: bool, expected: str) -> None:
    async with SimServer(SIM) as sim:
        spec = TargetSpec(
            sim.base_url,
            client=client,
            stream=stream,
            timeout=0.3,
            headers=(("x-sim-fault", fault),),
        )
        reply = await _one(spec)
    assert OUTCOMES[reply.outcome] == expected, reply.detail
    assert reply.detail


async def test_a_malformed_stream_event_is_a_bad_response() -> None:
    async with SimServer(SIM) as sim:
        spec = TargetSpec(sim.base_url, stream=True, headers=(("x-sim-fault", "malformed"),))
        reply = await _one(spec)
    assert OUTCOMES[reply.outcome] == "bad_response"
    assert "malformed" in reply.detail


@pytest.mark.parametrize("client", ["aiohttp", "sluice"])
async def test_nothing_listening_is_a_connection_failure(client: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reply = await _one(TargetSpec(f"http://127.0.0.1:{port}/v1", client=client, timeout=5))
    assert OUTCOMES[reply.outcome] == "connection"


async def test_garbage_is_a_bad_response() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"SSH-2.0-not-http\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reply = await preflight(TargetSpec(f"http://127.0.0.1:{port}/v1", timeout=5))
    assert OUTCOMES[reply.outcome] == "bad_response"
    assert "not a valid HTTP response" in reply.detail


async def test_plain_http_target_and_no_redirects() -> None:
    async with SimServer(SIM) as sim:
        health = await _one(TargetSpec(sim.url + "/healthz", api="http"))
        missing = await _one(TargetSpec(sim.url + "/nowhere", api="http"))
    assert health.outcome == OK
    assert OUTCOMES[missing.outcome] == "other_status"
    assert missing.status == 404


def test_spec_validation() -> None:
    assert check_url("http://127.0.0.1:8000/v1")
    for bad in ("127.0.0.1:8000", "ftp://host/", "http://", "http://host:99999/"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            check_url(bad)
    with pytest.raises(ValueError, match="streaming"):
        TargetSpec("http://h/", api="http", stream=True)
    with pytest.raises(ValueError, match="timeout"):
        TargetSpec("http://h/v1", timeout=0)
    assert TargetSpec("http://h/v1/").request_url == "http://h/v1/chat/completions"
    assert [classify_status(s) for s in (200, 204, 429, 503, 404, 301)] == [0, 0, 1, 2, 3, 3]

"""Request parsing, the malformed-event fault, metrics text and the capacity queue."""

from __future__ import annotations

import asyncio
import json

import pytest

from sluice.openai import ChunkEncoder
from sluice.sim import SimMetrics, count_tokens
from sluice.sim._capacity import ServerQueue
from sluice.sim._metrics import MetricsRecorder
from sluice.sim._protocol import RequestError, parse_request
from sluice.sim._respond import malformed_event


def _chat(**body: object) -> bytes:
    payload: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    payload.update(body)
    return json.dumps(payload).encode()


def test_chat_prompt_tokens_and_options() -> None:
    inference = parse_request(
        "chat",
        _chat(stream=True, stream_options={"include_usage": True}, max_completion_tokens=9),
    )
    assert inference.prompt_tokens == 3 + (3 + 1)
    assert inference.stream
    assert inference.include_usage
    assert inference.max_tokens == 9


def test_chat_content_parts_names_and_tools_are_accepted() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "name": "ann", "content": [{"type": "text", "text": "hello there"}]},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "1", "content": "done"},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    inference = parse_request("chat", _chat(messages=messages, tools=tools, temperature=0.2))
    assistant = 3 + (1 + 2)  # the call's name and its arguments' two tokens
    definitions = count_tokens(json.dumps(tools))  # the tools cost their JSON text's tokens
    expected = (3 + 3) + (3 + 2 + 1) + (3 + 85) + assistant + (3 + 1) + 3 + definitions
    assert inference.prompt_tokens == expected


@pytest.mark.parametrize(
    ("body", "param", "text"),
    [
        (b"{", None, "not valid JSON"),
        (b"[]", None, "must be a JSON object"),
        (_chat(model=""), "model", "model parameter"),
        (_chat(messages=[]), "messages", "non-empty list"),
        (_chat(messages=[{"role": "robot", "content": "x"}]), "messages", "role must be one of"),
        (_chat(messages=[{"role": "user", "content": 5}]), "messages", "string or a list"),
        (_chat(n=2), "n", "only n=1"),
        (_chat(max_tokens=0), "max_tokens", ">= 1"),
        (_chat(stream="yes"), "stream", "boolean"),
        (_chat(stream_options={"include_usage": True}), "stream_options", "only allowed"),
    ],
)
def test_chat_errors_name_the_parameter(body: bytes, param: str | None, text: str) -> None:
    with pytest.raises(RequestError, match=text) as info:
        parse_request("chat", body)
    assert info.value.status == 400
    assert info.value.param == param
    error = json.loads(info.value.body())["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"


def test_completion_prompts() -> None:
    assert parse_request("completion", b'{"model": "m", "prompt": "a b c"}').prompt_tokens == 3
    assert parse_request("completion", b'{"model": "m", "prompt": ["a b"]}').prompt_tokens == 2
    assert parse_request("completion", b'{"model": "m", "prompt": [1, 2, 3, 4]}').prompt_tokens == 4
    with pytest.raises(RequestError, match="only one prompt"):
        parse_request("completion", b'{"model": "m", "prompt": ["a", "b"]}')
    with pytest.raises(RequestError, match="prompt must be a string"):
        parse_request("completion", b'{"model": "m", "prompt": 7}')


def test_embedding_inputs() -> None:
    inference = parse_request(
        "embedding", b'{"model": "e", "input": ["a b", "c"], "encoding_format": "base64"}'
    )
    assert inference.prompt_tokens == 3
    assert [tokens for _, tokens in inference.inputs] == [2, 1]
    assert inference.base64
    assert parse_request("embedding", b'{"model": "e", "input": [[1, 2]]}').prompt_tokens == 2
    with pytest.raises(RequestError, match="must not be empty"):
        parse_request("embedding", b'{"model": "e", "input": [""]}')
    with pytest.raises(RequestError, match="encoding_format"):
        parse_request("embedding", b'{"model": "e", "input": "x", "encoding_format": "hex"}')


def test_malformed_event_is_not_json() -> None:
    for kind in ("chat", "completion"):
        chunks = ChunkEncoder(kind, "id-1", 7, 'model "quoted"')
        event = malformed_event(chunks)
        assert event.startswith(b"data: ")
        with pytest.raises(ValueError):  # noqa: PT011 - any JSON decoding error
            json.loads(event[6:].split(b"\n\n")[0])


def test_metrics_render_and_parse_back() -> None:
    recorder = MetricsRecorder()
    recorder.response("/v1/chat/completions", 200)
    recorder.response("/v1/chat/completions", 200)
    recorder.response("/v1/embeddings", 429)
    recorder.fault("hang")
    recorder.prompt_tokens = 12
    recorder.completion_tokens = 30
    for i in range(100):
        recorder.lateness(i / 1000)
    parsed = SimMetrics.from_prometheus(recorder.render(active=2, queued=1, peak_active=5).decode())
    assert parsed == recorder.snapshot(active=2, queued=1, peak_active=5)
    assert parsed.total_requests == 3
    assert parsed.status_count(429) == 1
    assert parsed.faults == {"hang": 1}
    assert parsed.lateness_p50 == pytest.approx(0.049)
    assert parsed.lateness_p99 == pytest.approx(0.098)
    assert parsed.lateness_max == pytest.approx(0.099)


async def test_admission_queues_in_order_and_turns_away_overflow() -> None:
    admission = ServerQueue(max_active=1, max_queue=2)
    order: list[int] = []

    async def user(n: int) -> None:
        if not await admission.enter():
            order.append(-n)
            return
        order.append(n)
        await asyncio.sleep(1)
        admission.leave()

    async with asyncio.TaskGroup() as group:
        for n in range(1, 5):
            group.create_task(user(n))
            await asyncio.sleep(0)
    assert order == [1, -4, 2, 3]
    assert admission.active == 0
    assert admission.peak_active == 1


async def test_admission_cancelled_waiter_leaves_the_queue() -> None:
    admission = ServerQueue(max_active=1, max_queue=5)
    assert await admission.enter()
    waiter = asyncio.create_task(admission.enter())
    await asyncio.sleep(0)
    assert admission.queued == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert admission.queued == 0
    admission.leave()
    assert admission.active == 0


async def test_unlimited_admission_never_queues() -> None:
    admission = ServerQueue(max_active=0, max_queue=0)
    assert all([await admission.enter() for _ in range(1000)])
    assert admission.active == 1000

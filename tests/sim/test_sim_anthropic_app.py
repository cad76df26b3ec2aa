"""Anthropic's Messages API on the simulator, driven in-process on virtual time: the events
and their instants, tools, stop sequences, limits, faults and errors in Anthropic's shape."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import jsonschema
import pytest

from sluice.sim import count_tokens
from sluice.sim._anthropic_request import parse_messages
from sluice.sim._request_error import RequestError

from .test_sim_app import Reply, call, make_app

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 2},
            "unit": {"enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}
CLOCK = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}


def ask(**extra: object) -> dict[str, object]:
    body: dict[str, object] = {"model": "claude-sim", "max_tokens": 64}
    return {**body, "messages": [{"role": "user", "content": "hi"}], **extra}


def sse(reply: Reply) -> list[tuple[float, str, dict[str, Any]]]:
    """(instant, event name, data) of every event, at the instant its part was sent."""
    out = []
    for instant, part in reply.parts:
        for name, data in re.findall(rb"event: (\w+)\ndata: (.*)\n\n", part):
            out.append((instant, name.decode(), json.loads(data)))
    return out


async def test_a_whole_message_and_its_usage() -> None:
    app = make_app(ttft=0.5, itl=0.1, output_tokens=5)
    reply = await call(app, "/v1/messages", ask(system="Be terse."))
    assert reply.status == 200
    assert reply.parts[0][0] == pytest.approx(0.5 + 0.1 * 4)
    message = reply.json()
    assert (message["type"], message["role"], message["model"]) == (
        "message",
        "assistant",
        "claude-sim",
    )
    assert str(message["id"]).startswith("msg_")
    (block,) = message["content"]  # type: ignore[misc]
    assert count_tokens(block["text"]) == 5
    assert message["stop_reason"] == "end_turn"
    usage = message["usage"]
    assert usage["input_tokens"] == 3 + (3 + 1) + count_tokens("Be terse.")  # type: ignore[index]
    assert usage["output_tokens"] == 5  # type: ignore[index]
    assert reply.headers[b"request-id"].startswith(b"req_")


async def test_the_stream_sends_anthropics_events_on_the_token_schedule() -> None:
    app = make_app(ttft=1.0, itl=0.1, output_tokens=4)
    reply = await call(app, "/v1/messages", ask(stream=True))
    assert reply.headers[b"content-type"].startswith(b"text/event-stream")
    events = sse(reply)
    names = [name for _, name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    deltas = [(t, data) for t, name, data in events if name == "content_block_delta"]
    assert [t for t, _ in deltas] == pytest.approx([1.0, 1.1, 1.2, 1.3])
    text = "".join(data["delta"]["text"] for _, data in deltas)
    whole = (await call(app, "/v1/messages", ask())).json()
    assert text == whole["content"][0]["text"]  # type: ignore[index]
    start = events[0][2]["message"]
    assert (start["stop_reason"], start["content"]) == (None, [])
    assert start["usage"]["input_tokens"] == 7
    final = events[-2][2]
    assert final["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert final["usage"] == {"output_tokens": 4}


async def test_max_tokens_and_stop_sequences() -> None:
    app = make_app(output_tokens=12)
    capped = (await call(app, "/v1/messages", ask(max_tokens=3))).json()
    assert capped["stop_reason"] == "max_tokens"
    assert capped["usage"]["output_tokens"] == 3  # type: ignore[index]
    text = capped["content"][0]["text"]  # type: ignore[index]
    word = text.split()[1]  # a word the answer holds: a stop sequence it will meet
    stopped = (await call(app, "/v1/messages", ask(max_tokens=3, stop_sequences=[word]))).json()
    assert stopped["stop_reason"] == "stop_sequence"
    assert stopped["stop_sequence"] == word
    cut = stopped["content"][0]["text"]  # type: ignore[index]
    assert text.startswith(cut)
    assert word not in cut
    assert stopped["usage"]["output_tokens"] == count_tokens(cut)  # type: ignore[index]


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


async def test_tools_give_tool_use_blocks_and_a_tool_result_ends_the_turn() -> None:
    app = make_app(output_tokens=6)
    reply = (await call(app, "/v1/messages", ask(tools=[WEATHER, CLOCK]))).json()
    assert reply["stop_reason"] == "tool_use"
    uses = reply["content"]
    assert isinstance(uses, list)
    # Two tools and parallel use allowed: both are called, as chat calls two.
    assert sorted(use["name"] for use in uses) == ["get_time", "get_weather"]
    schemas = {tool["name"]: tool["input_schema"] for tool in (WEATHER, CLOCK)}
    for use in uses:
        assert use["type"] == "tool_use"
        jsonschema.validate(use["input"], schemas[use["name"]])
    assert len({use["id"] for use in uses}) == 2
    cost = sum(1 + count_tokens(compact(use["input"])) for use in uses)
    assert reply["usage"]["output_tokens"] == cost  # type: ignore[index]
    again = (await call(app, "/v1/messages", ask(tools=[WEATHER, CLOCK]))).json()
    assert [use["input"] for use in again["content"]] == [use["input"] for use in uses]  # type: ignore[union-attr]
    serial = {"type": "auto", "disable_parallel_tool_use": True}
    one = (await call(app, "/v1/messages", ask(tools=[WEATHER, CLOCK], tool_choice=serial))).json()
    assert len(one["content"]) == 1  # type: ignore[arg-type]
    follow_up = ask(
        tools=[WEATHER, CLOCK],
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": uses},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use["id"], "content": "Sun"}
                    for use in uses
                ],
            },
        ],
    )
    answer = (await call(app, "/v1/messages", follow_up)).json()
    assert answer["stop_reason"] == "end_turn"
    assert answer["content"][0]["type"] == "text"  # type: ignore[index]
    # tool_choice: a named tool, any, or none.
    named = ask(tools=[WEATHER, CLOCK], tool_choice={"type": "tool", "name": "get_time"})
    [clock] = (await call(app, "/v1/messages", named)).json()["content"]  # type: ignore[misc]
    assert (clock["name"], clock["input"]) == ("get_time", {})
    forced = {**follow_up, "tool_choice": {"type": "any"}}
    assert (await call(app, "/v1/messages", forced)).json()["stop_reason"] == "tool_use"
    silent = ask(tools=[WEATHER], tool_choice={"type": "none"})
    assert (await call(app, "/v1/messages", silent)).json()["stop_reason"] == "end_turn"


async def test_a_streamed_tool_call_sends_its_input_as_json_deltas() -> None:
    app = make_app(ttft=0.2, itl=0.01, tokens_per_chunk=4)
    events = sse(await call(app, "/v1/messages", ask(stream=True, tools=[WEATHER])))
    opening = next(data for _, name, data in events if name == "content_block_start")
    assert opening["content_block"]["type"] == "tool_use"
    assert opening["content_block"]["input"] == {}
    partial = [d["delta"] for _, n, d in events if n == "content_block_delta"]
    assert {delta["type"] for delta in partial} == {"input_json_delta"}
    assert all(delta["partial_json"] for delta in partial)
    streamed = json.loads("".join(d["partial_json"] for d in partial))
    jsonschema.validate(streamed, WEATHER["input_schema"])
    whole = (await call(app, "/v1/messages", ask(tools=[WEATHER]))).json()
    assert whole["content"][0]["input"] == streamed  # type: ignore[index]
    assert events[-2][2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][2]["usage"]["output_tokens"] == 1 + count_tokens(compact(streamed))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}]},
            "max_tokens: Field required",
        ),
        (ask(max_tokens=0), "max_tokens: Input should be an integer >= 1"),
        (ask(messages=[]), "messages: Input should be a non-empty list"),
        (ask(messages=[{"role": "system", "content": "x"}]), "messages.0.role: Input should be"),
        (
            ask(messages=[{"role": "user", "content": [{"type": "text"}]}]),
            "messages.0.content.0.text",
        ),
        (ask(tools=[{"name": "bad name!", "input_schema": {}}]), "tools.0.name: String should"),
        (ask(tools=[WEATHER], tool_choice={"type": "tool", "name": "nope"}), "tool_choice.name"),
        (ask(tool_choice={"type": "any"}), "tool_choice: tool_choice 'any' needs at least one"),
        (ask(stop_sequences=[""]), "stop_sequences: each stop sequence must be a non-empty"),
        (
            ask(
                messages=[
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x"}]}
                ]
            ),
            "messages.0: tool_result block(s) for toolu_x with no matching tool_use",
        ),
    ],
)
async def test_bad_requests_are_400_in_anthropics_shape(body: object, message: str) -> None:
    reply = await call(make_app(), "/v1/messages", body)
    assert reply.status == 400
    error = reply.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert message in error["error"]["message"]  # type: ignore[index]
    assert str(error["request_id"]).startswith("req_")


async def test_context_length_is_enforced_with_max_tokens() -> None:
    app = make_app(context_length=100)
    reply = await call(app, "/v1/messages", ask(max_tokens=95))
    assert reply.status == 400
    assert "input length and `max_tokens` exceed context limit: 7 + 95 > 100" in str(reply.json())
    long = await call(app, "/v1/messages", ask(messages=[{"role": "user", "content": "w " * 200}]))
    assert "prompt is too long" in long.json()["error"]["message"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("fault", "status", "kind", "retry_after"),
    [
        ("400", 400, "invalid_request_error", False),
        ("429", 429, "rate_limit_error", True),
        ("500", 500, "api_error", False),
        ("503", 503, "api_error", True),
        ("529", 529, "overloaded_error", True),
    ],
)
async def test_immediate_faults_in_anthropics_shape(
    fault: str, status: int, kind: str, retry_after: bool
) -> None:
    app = make_app(retry_after=2.5, rpm=100)
    reply = await call(app, "/v1/messages", ask(), {"x-sim-fault": fault})
    assert reply.status == status
    assert reply.json()["error"]["type"] == kind  # type: ignore[index]
    assert b"anthropic-ratelimit-requests-limit" in reply.headers
    assert (reply.headers.get(b"retry-after") == b"3") is retry_after
    assert app.snapshot().faults == {fault: 1}


async def test_rate_limit_headers_are_rfc_3339_and_a_429_says_when_to_retry() -> None:
    app = make_app(rpm=60, tpm=6000)  # one request, 100 tokens a second
    first = await call(app, "/v1/messages", ask(), {"x-api-key": "sk-a"})
    headers = first.headers
    assert headers[b"anthropic-ratelimit-requests-limit"] == b"60"
    assert headers[b"anthropic-ratelimit-requests-remaining"] == b"0"
    assert re.fullmatch(
        rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", headers[b"anthropic-ratelimit-requests-reset"]
    )
    for budget in (b"tokens", b"input-tokens", b"output-tokens"):
        assert headers[b"anthropic-ratelimit-" + budget + b"-limit"] == b"6000"
        assert headers[b"anthropic-ratelimit-" + budget + b"-remaining"] == b"%d" % (100 - 7 - 16)
    refused = await call(app, "/v1/messages", ask(), {"x-api-key": "sk-a"})
    assert refused.status == 429
    assert refused.json()["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert refused.headers[b"retry-after"] == b"1"
    other = await call(app, "/v1/messages", ask(), {"x-api-key": "sk-b"})
    assert other.status == 200  # limits are per key
    assert b"x-ratelimit-limit-requests" not in other.headers  # Anthropic's names only


async def test_a_long_key_has_one_budget_on_both_apis() -> None:
    app = make_app(rpm=60)  # one request a second
    key = "sk-" + "x" * 200  # past the length kept as is: the buckets hold its digest
    chat = {"model": "sim-model", "messages": [{"role": "user", "content": "hi"}]}
    first = await call(app, "/v1/chat/completions", chat, {"authorization": f"Bearer {key}"})
    assert first.status == 200
    refused = await call(app, "/v1/messages", ask(), {"x-api-key": key})
    assert refused.status == 429
    other = await call(app, "/v1/messages", ask(), {"x-api-key": key[:-1] + "y"})
    assert other.status == 200


async def test_a_full_queue_is_529_overloaded() -> None:
    app = make_app(ttft=1.0, max_concurrency=1, max_queue=0)
    replies = await asyncio.gather(*(call(app, "/v1/messages", ask()) for _ in range(2)))
    assert sorted(r.status for r in replies) == [200, 529]
    refused = next(r for r in replies if r.status == 529)
    assert refused.json()["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert b"retry-after" in refused.headers


async def test_a_truncated_stream_ends_without_message_stop() -> None:
    app = make_app(output_tokens=6)
    reply = await call(app, "/v1/messages", ask(stream=True), {"x-sim-fault": "truncate"})
    names = [name for _, name, _ in sse(reply)]
    assert names.count("content_block_delta") == 3
    assert "message_stop" not in names
    assert app.snapshot().completion_tokens == 3


async def test_count_tokens_matches_the_usage_of_the_answer() -> None:
    app = make_app()
    body = ask(system="Be terse.", tools=[WEATHER])
    counted = await call(
        app, "/v1/messages/count_tokens", {k: v for k, v in body.items() if k != "max_tokens"}
    )
    assert counted.status == 200
    message = (await call(app, "/v1/messages", {**body, "tool_choice": {"type": "none"}})).json()
    assert counted.json() == {"input_tokens": message["usage"]["input_tokens"]}  # type: ignore[index]


async def test_wrong_method_and_paths_without_v1() -> None:
    app = make_app()
    wrong = await call(app, "/v1/messages")
    assert wrong.status == 405
    assert wrong.json()["type"] == "error"
    assert (await call(app, "/messages", ask())).status == 200


def test_parse_counts_blocks_and_tool_results() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "system": [{"type": "text", "text": "a b"}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "c"}, {"type": "image", "source": {}}],
            },
        ],
    }
    request = parse_messages(json.dumps(body).encode())
    assert request.input_tokens == 3 + 2 + 3 + 1 + 85
    with pytest.raises(RequestError, match=r"^system: Input should be"):
        parse_messages(json.dumps({**body, "system": 3}).encode())


@pytest.mark.parametrize(
    ("model", "unit"),
    [("claude-sim", "celsius"), ('x","content":[],"y', "celsius"), ("claude-é", "grad°")],
)
async def test_a_whole_tool_use_message_is_written_as_one_encoding_writes_it(
    model: str, unit: str
) -> None:
    app = make_app()
    schema = {**WEATHER["input_schema"], "required": ["city", "unit"]}  # type: ignore[dict-item]
    schema["properties"] = {**schema["properties"], "unit": {"enum": [unit]}}
    tools = [{**WEATHER, "input_schema": schema}, CLOCK]
    reply = await call(app, "/v1/messages", {**ask(tools=tools), "model": model})
    body = reply.json()
    assert [block["type"] for block in body["content"]] == ["tool_use", "tool_use"]  # type: ignore[index]
    assert body["model"] == model
    weather = next(b for b in body["content"] if b["name"] == "get_weather")  # type: ignore[union-attr]
    assert weather["input"]["unit"] == unit
    # The blocks' JSON is spliced into the message: the bytes are those of encoding it whole.
    assert reply.body == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

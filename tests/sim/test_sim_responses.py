"""POST /v1/responses driven in-process on virtual time: shapes, events, usage, tools, faults."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sluice.sim import count_tokens

from .test_sim_app import Reply, call, chat, make_app

TOOL = {
    "type": "function",
    "name": "lookup",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 12},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "unit": {"enum": ["C", "F"]},
        },
        "required": ["city", "days", "unit"],
    },
}


def request(**extra: object) -> dict[str, object]:
    return {"model": "sim-model", "input": "hi", **extra}


def events(reply: Reply) -> list[dict[str, Any]]:
    """The stream's events, each checked to carry its type on the event line too."""
    out = []
    for block in reply.body.decode().split("\n\n"):
        if not block:
            continue
        kind, data = block.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert kind == f"event: {event['type']}"
        out.append(event)
    return out


def text_of(response: dict[str, Any]) -> str:
    return "".join(
        part["text"]
        for item in response["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


async def test_a_string_input_gets_the_text_and_usage_chat_gives_the_same_prompt() -> None:
    app = make_app(output_tokens=9, rpm=6000)
    reply = await call(app, "/v1/responses", request(instructions="Be terse."))
    assert reply.status == 200
    assert reply.headers[b"x-ratelimit-limit-requests"] == b"6000"
    body = reply.json()
    assert body["object"] == "response"
    assert body["id"].startswith("resp_")
    assert body["status"] == "completed"
    assert body["incomplete_details"] is None
    assert body["instructions"] == "Be terse."
    text = text_of(body)
    usage: dict[str, Any] = body["usage"]  # type: ignore[assignment]
    assert usage["output_tokens"] == count_tokens(text) == 9
    assert usage["total_tokens"] == usage["input_tokens"] + 9
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}]
    same = (await call(app, "/v1/chat/completions", chat(messages=messages))).json()
    assert same["usage"]["prompt_tokens"] == usage["input_tokens"]  # type: ignore[index]
    assert same["choices"][0]["message"]["content"] == text  # type: ignore[index]
    assert dict(app.snapshot().requests)[("/v1/responses", 200)] == 1


async def test_the_stream_sends_the_event_sequence_on_the_schedule() -> None:
    app = make_app(ttft=0.5, itl=0.1, output_tokens=4)
    reply = await call(app, "/v1/responses", request(stream=True))
    assert reply.status == 200
    assert reply.headers[b"content-type"].startswith(b"text/event-stream")
    sent = events(reply)
    assert [e["sequence_number"] for e in sent] == list(range(len(sent)))
    assert [e["type"] for e in sent] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 4,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert sent[0]["response"]["status"] == "in_progress"
    deltas = "".join(e["delta"] for e in sent if e["type"] == "response.output_text.delta")
    assert sent[8]["text"] == deltas
    final = sent[-1]["response"]
    assert text_of(final) == deltas
    assert final["usage"]["output_tokens"] == count_tokens(deltas) == 4
    times = [t for t, data in reply.parts if b"output_text.delta" in data]
    assert times == pytest.approx([0.5, 0.6, 0.7, 0.8])
    assert reply.parts[0][0] == pytest.approx(0.0)  # created and in_progress go out at once


async def test_max_output_tokens_cuts_the_answer_short_as_incomplete() -> None:
    app = make_app(output_tokens=40)
    body = (await call(app, "/v1/responses", request(max_output_tokens=16))).json()
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["output"][0]["status"] == "incomplete"  # type: ignore[index]
    assert count_tokens(text_of(body)) == body["usage"]["output_tokens"] == 16  # type: ignore[index]
    sent = events(await call(app, "/v1/responses", request(max_output_tokens=16, stream=True)))
    assert sent[-1]["type"] == "response.incomplete"
    assert sent[-2]["item"]["status"] == "incomplete"
    small = await call(app, "/v1/responses", request(max_output_tokens=15))
    assert small.status == 400
    assert small.json()["error"]["param"] == "max_output_tokens"  # type: ignore[index]


async def test_function_tools_get_schema_valid_calls_and_the_follow_up_gets_text() -> None:
    app = make_app(output_tokens=5)
    body = (await call(app, "/v1/responses", request(tools=[TOOL]))).json()
    [item] = body["output"]  # type: ignore[misc]
    assert item["type"] == "function_call"
    assert item["name"] == "lookup"
    assert item["call_id"].startswith("call_")
    arguments = json.loads(item["arguments"])
    assert set(arguments) == {"city", "days", "unit"}
    assert isinstance(arguments["city"], str)
    assert len(arguments["city"]) <= 12
    assert 1 <= arguments["days"] <= 7
    assert arguments["unit"] in ("C", "F")
    # as on chat: a call costs one token (its id and name) and its arguments' tokens
    assert body["usage"]["output_tokens"] == 1 + count_tokens(item["arguments"])  # type: ignore[index]
    again = (await call(app, "/v1/responses", request(tools=[TOOL]))).json()
    repeated = again["output"][0]  # type: ignore[index]
    assert repeated["arguments"] == item["arguments"]  # the same request, the same arguments
    assert repeated["call_id"] != item["call_id"]
    history = [
        {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {k: item[k] for k in ("type", "call_id", "name", "arguments")},
        {"type": "function_call_output", "call_id": item["call_id"], "output": "sunny"},
    ]
    follow = (await call(app, "/v1/responses", request(input=history, tools=[TOOL]))).json()
    assert follow["output"][0]["type"] == "message"  # type: ignore[index]
    assert count_tokens(text_of(follow)) == 5
    # 3 to prime, each item 3 + its text: "hi", name + arguments, "sunny"; the tools' JSON
    expected = (
        3
        + 4
        + (3 + 1 + count_tokens(item["arguments"]))
        + 4
        + count_tokens(json.dumps([TOOL], separators=(",", ":")))
    )
    assert follow["usage"]["input_tokens"] == expected  # type: ignore[index]
    required = request(input=history, tools=[TOOL], tool_choice="required")
    forced = (await call(app, "/v1/responses", required)).json()
    assert forced["output"][0]["type"] == "function_call"  # type: ignore[index]
    none = (await call(app, "/v1/responses", request(tools=[TOOL], tool_choice="none"))).json()
    assert none["output"][0]["type"] == "message"  # type: ignore[index]


async def test_a_named_function_is_called_and_an_unknown_one_refused() -> None:
    app = make_app()
    other = {**TOOL, "name": "other", "parameters": {"type": "object", "properties": {}}}
    choice = {"type": "function", "name": "other"}
    body = await call(app, "/v1/responses", request(tools=[TOOL, other], tool_choice=choice))
    assert [i["name"] for i in body.json()["output"]] == ["other"]  # type: ignore[attr-defined]
    assert json.loads(body.json()["output"][0]["arguments"]) == {}  # type: ignore[index]
    bad = {"type": "function", "name": "missing"}
    refused = await call(app, "/v1/responses", request(tools=[TOOL], tool_choice=bad))
    assert refused.status == 400
    assert refused.json()["error"]["param"] == "tool_choice"  # type: ignore[index]


async def test_streamed_function_calls_send_argument_deltas() -> None:
    app = make_app(tokens_per_chunk=3)
    sent = events(await call(app, "/v1/responses", request(tools=[TOOL], stream=True)))
    kinds = [e["type"] for e in sent]
    assert "response.content_part.added" not in kinds
    deltas = [e["delta"] for e in sent if e["type"] == "response.function_call_arguments.delta"]
    [done] = [e for e in sent if e["type"] == "response.function_call_arguments.done"]
    assert "".join(deltas) == done["arguments"]
    assert all(count_tokens(d) <= 3 for d in deltas)
    assert set(json.loads(done["arguments"])) == {"city", "days", "unit"}
    final = sent[-1]["response"]
    assert final["output"][0]["arguments"] == done["arguments"]
    assert final["usage"]["output_tokens"] == 1 + count_tokens(done["arguments"])


async def test_structured_text_follows_the_schema() -> None:
    app = make_app()
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {}}},
        "required": ["name", "tags"],
        "additionalProperties": False,
    }
    form = {"format": {"type": "json_schema", "name": "card", "schema": schema, "strict": True}}
    body = (await call(app, "/v1/responses", request(text=form))).json()
    value = json.loads(text_of(body))
    assert isinstance(value["name"], str)
    assert isinstance(value["tags"], list)
    assert body["text"] == form
    assert body["usage"]["output_tokens"] == count_tokens(text_of(body))  # type: ignore[index]
    loose = {"format": {"type": "json_object"}}
    assert isinstance(
        json.loads(text_of((await call(app, "/v1/responses", request(text=loose))).json())), dict
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": [{"type": "computer_call"}]}, "input"),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input"),
        ({"model": "m", "input": "x", "temperature": 3}, "temperature"),
        ({"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}}, "text.format"),
        ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "tools"),
    ],
)
async def test_bad_requests_are_refused_naming_the_parameter(
    body: dict[str, object], param: str
) -> None:
    reply = await call(make_app(), "/v1/responses", body)
    assert reply.status == 400
    assert reply.json()["error"]["param"] == param  # type: ignore[index]


async def test_faults_and_limits_apply_as_for_chat() -> None:
    app = make_app(output_tokens=6, rpm=1)
    limited = await call(app, "/v1/responses", request(), {"x-sim-fault": "429"})
    assert limited.status == 429
    assert limited.headers[b"retry-after"] == b"1"
    assert (await call(app, "/v1/responses", request())).status == 200
    refused = await call(app, "/v1/responses", request())
    assert refused.status == 429  # the one request a minute is spent
    assert refused.json()["error"]["type"] == "requests"  # type: ignore[index]
    assert app.snapshot().faults == {"429": 1}


async def test_a_truncated_stream_ends_without_its_last_event() -> None:
    app = make_app(output_tokens=6)
    reply = await call(app, "/v1/responses", request(stream=True), {"x-sim-fault": "truncate"})
    assert reply.status == 200
    kinds = [e["type"] for e in events(reply)]
    assert kinds.count("response.output_text.delta") == 3
    assert kinds[-1] == "response.output_text.delta"
    assert app.snapshot().completion_tokens == 3


async def test_a_malformed_event_is_not_json() -> None:
    app = make_app(output_tokens=6)
    reply = await call(app, "/v1/responses", request(stream=True), {"x-sim-fault": "malformed"})
    with pytest.raises(ValueError, match=r"Expecting|Unterminated|not enough values"):
        events(reply)


async def test_unknown_paths_answer_404_and_known_ones_405_for_a_wrong_method() -> None:
    app = make_app()
    for path in ("/v1/nothing", "/v1/responses/extra", "/v2/responses", "/v1/chat"):
        unknown = await call(app, path, {"model": "m"})
        assert unknown.status == 404, path
        assert unknown.json()["error"]["code"] == "not_found"  # type: ignore[index]
    wrong = await call(app, "/v1/responses")
    assert wrong.status == 405
    assert wrong.headers[b"allow"] == b"POST"
    posted = await call(app, "/v1/models", {})
    assert posted.status == 405
    assert posted.headers[b"allow"] == b"GET, HEAD"
    assert (await call(app, "/responses", request())).status == 200  # a base URL without /v1


async def test_two_tools_get_parallel_calls_unless_parallel_calls_are_off() -> None:
    app = make_app()
    other = {**TOOL, "name": "other"}
    both = (await call(app, "/v1/responses", request(tools=[TOOL, other]))).json()
    names = [item["name"] for item in both["output"]]  # type: ignore[attr-defined]
    assert sorted(names) == ["lookup", "other"]  # as chat: two distinct tools
    single = request(tools=[TOOL, other], parallel_tool_calls=False)
    assert len((await call(app, "/v1/responses", single)).json()["output"]) == 1  # type: ignore[arg-type]


async def test_strict_formats_and_tools_follow_chats_strict_rules() -> None:
    app = make_app()
    loose = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    form = {"format": {"type": "json_schema", "name": "card", "schema": loose, "strict": True}}
    refused = await call(app, "/v1/responses", request(text=form))
    assert refused.status == 400
    error: dict[str, Any] = refused.json()["error"]  # type: ignore[assignment]
    assert error["param"] == "text.format"
    assert "additionalProperties" in error["message"]
    tool = {**TOOL, "strict": True}
    refused = await call(app, "/v1/responses", request(tools=[tool]))
    assert refused.status == 400
    assert refused.json()["error"]["param"] == "tools"  # type: ignore[index]


async def test_the_refusal_fault_answers_with_a_refusal_part() -> None:
    app = make_app(output_tokens=9)
    fault = {"x-sim-fault": "refusal"}
    body = (await call(app, "/v1/responses", request(), fault)).json()
    [item] = body["output"]  # type: ignore[misc]
    [part] = item["content"]
    assert part["type"] == "refusal"
    assert part["refusal"]
    assert body["status"] == "completed"
    assert body["usage"]["output_tokens"] == count_tokens(part["refusal"])  # type: ignore[index]
    sent = events(await call(app, "/v1/responses", request(stream=True), fault))
    kinds = [e["type"] for e in sent]
    assert "response.output_text.delta" not in kinds
    deltas = "".join(e["delta"] for e in sent if e["type"] == "response.refusal.delta")
    [done] = [e for e in sent if e["type"] == "response.refusal.done"]
    assert deltas == done["refusal"] == part["refusal"]
    assert sent[-1]["response"]["output"][0]["content"][0] == part


async def test_the_length_fault_keeps_half_the_answer_as_incomplete() -> None:
    app = make_app(output_tokens=10)
    fault = {"x-sim-fault": "length"}
    body = (await call(app, "/v1/responses", request(), fault)).json()
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert count_tokens(text_of(body)) == body["usage"]["output_tokens"] == 5  # type: ignore[index]
    called = (await call(app, "/v1/responses", request(tools=[TOOL]), fault)).json()
    [item] = called["output"]  # type: ignore[misc]
    assert item["status"] == "incomplete"
    with pytest.raises(json.JSONDecodeError):
        json.loads(item["arguments"])  # the arguments end mid-value
    sent = events(await call(app, "/v1/responses", request(tools=[TOOL], stream=True), fault))
    assert sent[-1]["type"] == "response.incomplete"
    assert sent[-1]["response"]["output"][0]["arguments"] == item["arguments"]


@pytest.mark.parametrize(
    "settings",
    [
        {"tools": [TOOL]},
        {"tools": [TOOL, {"type": "web_search"}], "tool_choice": "required"},
        {"text": {"format": {"type": "json_schema", "name": "card", "schema": TOOL["parameters"]}}},
        {"text": {"format": {"type": "json_object"}, "verbosity": "low"}, "input": "json"},
        {"tools": [TOOL], "text": {"format": {"type": "text"}}, "metadata": {"k": "é"}},
    ],
)
async def test_the_response_repeats_the_settings_it_was_sent_byte_for_byte(
    settings: dict[str, Any],
) -> None:
    app = make_app()
    sent = request(**settings)
    for _ in range(2):  # the second answer repeats the definitions' JSON made for the first
        reply = await call(app, "/v1/responses", sent)
        body = reply.json()
        for name in ("tools", "text", "tool_choice", "metadata"):
            if name in settings:
                assert body[name] == settings[name]
                shown = json.dumps(settings[name], separators=(",", ":"), ensure_ascii=False)
                assert f'"{name}":{shown}'.encode() in reply.body
        assert reply.body == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


async def test_equal_definitions_spelt_differently_are_each_repeated_as_sent() -> None:
    app = make_app()
    for minimum in (1, 1.0):  # equal as values, not as JSON
        tool = {**TOOL, "parameters": {"type": "object", "properties": {"n": {"minimum": minimum}}}}
        reply = await call(app, "/v1/responses", request(tools=[tool]))
        assert f'"minimum":{minimum}}}'.encode() in reply.body

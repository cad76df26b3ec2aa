"""Tool calls, response formats, refusals and cut answers, in-process on virtual time."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.openai import SSEDecoder, decode_chunk
from sluice.sim import count_tokens
from sluice.sim._answer import Answer, build_answer, token_pieces
from sluice.sim._protocol import RequestError, parse_request
from sluice.sim._tool_calls import choose_calls
from sluice.sim._tools import tool_spec
from tests.sim.test_sim_app import call, make_app

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"enum": ["c", "f"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "at": {"type": "array", "items": {"$ref": "#/$defs/Point"}},
    },
    "required": ["city", "unit", "days", "at"],
    "additionalProperties": False,
    "$defs": {
        "Point": {
            "type": "object",
            "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90}},
            "required": ["lat"],
            "additionalProperties": False,
        }
    },
}
SEARCH = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
TOOLS = [
    {"type": "function", "function": {"name": "weather", "parameters": WEATHER, "strict": True}},
    {"type": "function", "function": {"name": "search", "parameters": SEARCH}},
]
SCHEMAS = {"weather": WEATHER, "search": SEARCH}
URL = "/v1/chat/completions"


def chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "model": "sim-model",
        "messages": list(messages) or [{"role": "user", "content": "weather in Oslo?"}],
        **extra,
    }


def events(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(event.data) for event in SSEDecoder().feed(body) if event.data != b"[DONE]"]


SPECS = [tool_spec("weather", WEATHER, strict=True), tool_spec("search", SEARCH, strict=False)]


@pytest.mark.parametrize(
    ("choice", "parallel", "after_tool", "names"),
    [
        ("none", True, False, set()),
        ("auto", True, True, set()),  # after a tool result, auto answers in text
        ("auto", True, False, {"weather", "search"}),
        ("required", True, True, {"weather", "search"}),
        ("weather", True, False, {"weather"}),
        ("search", False, True, {"search"}),
    ],
)
def test_the_tool_choice_rule(
    choice: str, parallel: bool, after_tool: bool, names: set[str]
) -> None:
    calls = choose_calls(SPECS, choice, parallel, after_tool, seed=11)
    assert {c.name for c in calls} == names
    for c in calls:
        jsonschema.validate(json.loads(c.arguments), SCHEMAS[c.name])
    assert choose_calls(SPECS, choice, parallel, after_tool, seed=11) == calls


def test_without_parallel_calls_one_tool_is_called_and_the_seed_picks_it() -> None:
    picked = {choose_calls(SPECS, "auto", False, False, seed)[0].name for seed in range(16)}
    assert picked == {"weather", "search"}
    assert all(len(choose_calls(SPECS, "required", False, False, s)) == 1 for s in range(16))


async def test_tool_calls_whole_and_streamed_agree() -> None:
    app = make_app(itl=0.01)
    whole = (await call(app, URL, chat(tools=TOOLS))).json()
    choice = whole["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] is None
    calls = message["tool_calls"]
    assert [c["function"]["name"] for c in calls] != []
    assert len(calls) == 2
    for c in calls:
        assert c["type"] == "function"
        assert c["id"].startswith("call_")
        jsonschema.validate(json.loads(c["function"]["arguments"]), SCHEMAS[c["function"]["name"]])
    usage = whole["usage"]
    assert usage["completion_tokens"] == sum(
        1 + count_tokens(c["function"]["arguments"]) for c in calls
    )

    streamed = await call(
        app, URL, chat(tools=TOOLS, stream=True, stream_options={"include_usage": True})
    )
    assembled: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in events(streamed.body):
        for delta in decode_chunk(chunk):
            finish = delta.finish_reason or finish
            for part in delta.tool_calls:
                if part.index not in assembled:  # the first fragment names the call
                    assert part.id
                    assert part.name
                    assembled[part.index] = {"id": part.id, "name": part.name, "arguments": ""}
                else:
                    assert part.id is None
                    assert part.name is None
                assembled[part.index]["arguments"] += part.arguments
            if delta.usage is not None:
                assert delta.usage.completion_tokens == usage["completion_tokens"]
    assert finish == "tool_calls"
    assert [assembled[i] for i in sorted(assembled)] == [
        {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in calls
    ]
    # Arguments arrive in pieces, one token per event (tokens_per_chunk=1).
    argument_events = sum(
        1
        for chunk in events(streamed.body)
        for c in (chunk["choices"][0]["delta"].get("tool_calls") or [] if chunk["choices"] else [])
        if "id" not in c
    )
    assert argument_events == usage["completion_tokens"] - len(calls)


async def test_grouped_chunks_never_mix_two_calls() -> None:
    app = make_app(tokens_per_chunk=5)
    reply = await call(app, URL, chat(tools=TOOLS, stream=True))
    for chunk in events(reply.body):
        for choice in chunk["choices"]:
            assert len(choice["delta"].get("tool_calls") or [None]) == 1


async def test_the_follow_up_turn_is_answered_in_text() -> None:
    app = make_app()
    first = (await call(app, URL, chat(tools=TOOLS, parallel_tool_calls=False))).json()
    calls = first["choices"][0]["message"]["tool_calls"]
    follow_up = chat(
        {"role": "user", "content": "weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "12 C, rain"},
        tools=TOOLS,
    )
    reply = (await call(app, URL, follow_up)).json()
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["choices"][0]["message"]["content"]
    assert "tool_calls" not in reply["choices"][0]["message"]
    # The history's call costs prompt tokens: its name and arguments.
    without = await call(app, URL, chat(tools=TOOLS))
    arguments = calls[0]["function"]["arguments"]
    history = (3 + 1 + count_tokens(arguments)) + (3 + count_tokens("12 C, rain"))
    assert reply["usage"]["prompt_tokens"] == without.json()["usage"]["prompt_tokens"] + history


@pytest.mark.parametrize(
    ("body", "param", "text"),
    [
        (chat({"role": "tool", "tool_call_id": "x", "content": "1"}), "messages", "must answer"),
        (
            chat(
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "user", "content": "and?"},
            ),
            "messages",
            "'a' is unanswered",
        ),
        (
            chat(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}}),
            "tool_choice",
            "not in tools",
        ),
        (chat(tool_choice="required"), "tools", "only allowed when tools"),
        (chat(tools=[{"type": "custom", "custom": {"name": "x"}}]), "tools", "function tools"),
        (chat(tools=[{"type": "function", "function": {"name": "bad name"}}]), "tools", "letters"),
        (
            chat(
                tools=[
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": SEARCH, "strict": True},
                    }
                ]
            ),
            "tools",
            "'additionalProperties' must be given",
        ),
        (
            chat(
                response_format={
                    "type": "json_schema",
                    "json_schema": {
                        "name": "r",
                        "strict": True,
                        "schema": {**WEATHER, "required": ["city"]},
                    },
                }
            ),
            "response_format",
            "missing 'unit'",
        ),
        (chat(response_format={"type": "json_object"}), "messages", "the word 'json'"),
        (chat(response_format={"type": "yaml"}), "response_format", "'json_schema'"),
        (
            chat(
                response_format={
                    "type": "json_schema",
                    "json_schema": {
                        "name": "r",
                        "schema": {"type": "integer", "minimum": 2, "maximum": 1},
                    },
                }
            ),
            "response_format",
            "cannot be satisfied",
        ),
    ],
)
async def test_requests_the_api_refuses_are_400(
    body: dict[str, Any], param: str, text: str
) -> None:
    reply = await call(make_app(), URL, body)
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["param"] == param  # type: ignore[index]
    assert text in error["message"]  # type: ignore[index]


async def test_json_schema_and_json_object_content() -> None:
    app = make_app(output_tokens=6)
    schema_format = {"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER}}
    reply = (await call(app, URL, chat(response_format=schema_format))).json()
    content = reply["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), WEATHER)
    assert reply["usage"]["completion_tokens"] == count_tokens(content)
    again = (await call(app, URL, chat(response_format=schema_format))).json()
    assert again["choices"][0]["message"]["content"] == content  # deterministic

    asked = chat(
        {"role": "user", "content": "Answer in JSON."}, response_format={"type": "json_object"}
    )
    value = json.loads((await call(app, URL, asked)).json()["choices"][0]["message"]["content"])
    assert isinstance(value, dict)
    assert count_tokens(value["answer"]) == 6

    # Streamed, the same JSON arrives in pieces.
    streamed = await call(app, URL, chat(response_format=schema_format, stream=True))
    text = "".join(d.text for c in events(streamed.body) for d in decode_chunk(c))
    assert text == content


async def test_the_refusal_fault() -> None:
    app = make_app()
    fault = {"x-sim-fault": "refusal"}
    reply = (await call(app, URL, chat(), fault)).json()
    message = reply["choices"][0]["message"]
    assert message["content"] is None
    assert message["refusal"].startswith("I'm sorry")
    assert reply["usage"]["completion_tokens"] == count_tokens(message["refusal"])
    streamed = await call(app, URL, chat(stream=True), fault)
    pieces = [
        c["choices"][0]["delta"].get("refusal") for c in events(streamed.body) if c["choices"]
    ]
    assert "".join(p for p in pieces if p) == message["refusal"]
    assert len([p for p in pieces if p]) == reply["usage"]["completion_tokens"]


@pytest.mark.parametrize("how", ["fault", "max_tokens"])
async def test_a_cut_answer_is_cut_json_with_finish_length(how: str) -> None:
    app = make_app()
    schema_format = {"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER}}
    full = (await call(app, URL, chat(response_format=schema_format))).json()
    tokens = full["usage"]["completion_tokens"]
    if how == "fault":
        cut = await call(app, URL, chat(response_format=schema_format), {"x-sim-fault": "length"})
    else:
        cut = await call(app, URL, chat(response_format=schema_format, max_tokens=tokens // 2))
    choice = cut.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    content = choice["message"]["content"]
    assert full["choices"][0]["message"]["content"].startswith(content)
    assert cut.json()["usage"]["completion_tokens"] == count_tokens(content) == tokens // 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


async def test_cut_tool_calls_keep_only_the_calls_begun() -> None:
    app = make_app()
    full = (await call(app, URL, chat(tools=TOOLS))).json()
    calls = full["choices"][0]["message"]["tool_calls"]
    first = 1 + count_tokens(calls[0]["function"]["arguments"])
    cut = (await call(app, URL, chat(tools=TOOLS, max_tokens=first - 1))).json()
    choice = cut["choices"][0]
    assert choice["finish_reason"] == "length"
    assert [c["id"] for c in choice["message"]["tool_calls"]] == [calls[0]["id"]]
    assert calls[0]["function"]["arguments"].startswith(
        choice["message"]["tool_calls"][0]["function"]["arguments"]
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127)) | st.text(max_size=30))
def test_answers_count_tokens_as_the_tokenizer_does(text: str) -> None:
    assert Answer.content(text).tokens == count_tokens(text)
    assert "".join(token_pieces(text)) == text
    assert len(token_pieces(text)) == count_tokens(text) or not text.strip()


async def call_raw(app: Any, body: bytes) -> tuple[int, dict[str, Any]]:
    """One request whose body is given as bytes; its status and JSON answer."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": URL, "headers": []}
    await app(scope, receive, send)
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


@pytest.mark.parametrize("depth", [30, 100, 900, 5000])
async def test_deeply_nested_schemas_are_refused_not_crashed(depth: int) -> None:
    nested = '{"type":"object","properties":{"a":' * depth + '{"type":"string"}'
    nested += '},"required":["a"]}' * depth
    tool = f'{{"type": "function", "function": {{"name": "deep", "parameters": {nested}}}}}'
    body = (
        '{"model": "sim-model", "messages": [{"role": "user", "content": "hi"}], '
        f'"tools": [{tool}]}}'
    ).encode()
    status, answer = await call_raw(make_app(), body)
    if depth <= 30:  # deep, but within the generator's bounds
        assert status == 200
        arguments = answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        assert arguments.count('"a"') == depth
    else:  # past the generator's depth, or past the stack: a 400 either way, never a 500
        assert status == 400
        assert "nest" in answer["error"]["message"]


@pytest.mark.parametrize("fault", ["stall", "truncate", "malformed", "slow", "length"])
async def test_streamed_tool_calls_through_mid_stream_faults(fault: str) -> None:
    app = make_app(itl=0.01, max_hang=1.0, slow_itl=0.02)
    reply = await call(app, URL, chat(tools=TOOLS, stream=True), {"x-sim-fault": fault})
    assert reply.status == 200
    assert b'"tool_calls":[{"index":0,"id":"call_' in reply.body
    done = reply.body.endswith(b"data: [DONE]\n\n")
    assert done is (fault != "truncate")
    if fault == "length":
        assert b'"finish_reason":"length"' in reply.body


_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
_KEYWORDS = st.sampled_from(
    [
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "const",
        "anyOf",
        "$ref",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "multipleOf",
        "minItems",
        "maxItems",
        "minLength",
        "additionalProperties",
        "format",
        "allOf",
        "$defs",
        "uniqueItems",
        "prefixItems",
    ]
)
_SCHEMA = st.recursive(
    _ANY,
    lambda inner: st.dictionaries(_KEYWORDS, inner | _ANY, max_size=4),
    max_leaves=12,
)
_TOOL = st.fixed_dictionaries(
    {"type": st.just("function") | _ANY},
    optional={
        "function": st.fixed_dictionaries(
            {"name": st.sampled_from(["f", "g"]) | _ANY},
            optional={"parameters": _SCHEMA, "strict": st.booleans() | _ANY},
        )
        | _ANY
    },
)
_TURNS = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "tool"])},
        optional={
            "content": st.text(max_size=5) | st.none(),
            "tool_call_id": st.sampled_from(["a", "b"]) | _ANY,
            "tool_calls": st.lists(
                st.fixed_dictionaries(
                    {"id": st.sampled_from(["a", "b"]) | _ANY},
                    optional={
                        "function": st.fixed_dictionaries(
                            {"name": st.just("f") | _ANY, "arguments": st.just("{}") | _ANY}
                        )
                        | _ANY
                    },
                ),
                max_size=2,
            )
            | _ANY,
        },
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(
    tools=st.lists(_TOOL, max_size=3) | _ANY,
    choice=st.sampled_from(
        ["auto", "none", "required", {"type": "function", "function": {"name": "f"}}]
    )
    | _ANY,
    output=st.fixed_dictionaries(
        {"type": st.sampled_from(["json_schema", "json_object", "text"]) | _ANY},
        optional={
            "json_schema": st.fixed_dictionaries(
                {"name": st.just("r") | _ANY}, optional={"schema": _SCHEMA, "strict": st.booleans()}
            )
            | _ANY
        },
    )
    | _ANY,
    messages=_TURNS,
    fault=st.sampled_from([None, "refusal", "length"]),
)
def test_any_tools_and_formats_are_answered_or_refused_with_a_request_error(
    tools: Any, choice: Any, output: Any, messages: Any, fault: str | None
) -> None:
    body = {"model": "m", "messages": messages, "tools": tools, "tool_choice": choice}
    body["response_format"] = output
    refused: RequestError | None = None
    try:
        inference = parse_request("chat", json.dumps(body).encode())
        answer = build_answer(inference, 3, fault, lambda: "some text")
    except RequestError as error:  # anything else fails the test
        refused = error
    if refused is not None:
        assert refused.status == 400
        return
    if answer is None:
        return
    content, refusal, calls = answer.message(answer.tokens)
    for made in calls:
        json.loads(made.arguments)  # whole calls carry valid JSON
    if content is not None and fault is None:
        json.loads(content)
    assert answer.tokens >= 1 or refusal == ""


async def test_definitions_equal_in_value_but_not_in_type_are_not_taken_for_each_other() -> None:
    # 1 == 1.0 == True in Python; in JSON they are three different definitions.
    app = make_app()

    def tools(value: object) -> list[dict[str, Any]]:
        schema = {"type": "object", "properties": {"n": {"const": value}}, "required": ["n"]}
        return [{"type": "function", "function": {"name": "pick", "parameters": schema}}]

    answers = []
    for value in (1, 1.0, True):
        reply = (await call(app, URL, chat(tools=tools(value), tool_choice="required"))).json()
        call_ = reply["choices"][0]["message"]["tool_calls"][0]
        answers.append(call_["function"]["arguments"])
    assert answers == ['{"n":1}', '{"n":1.0}', '{"n":true}']

"""The Responses API shapes: encoded by the simulator's side, decoded by the client's."""

from __future__ import annotations

import json

import pytest

from sluice.openai import (
    ResponseEventEncoder,
    ResponseUsage,
    ShapeError,
    SSEDecoder,
    Usage,
    decode_response,
    decode_response_event,
    decode_response_usage,
    encode_response,
    function_call_item,
    message_item,
    response_object,
    response_usage,
)


def test_a_response_round_trips_text_calls_usage_and_settings() -> None:
    output = [
        message_item("msg_1", "Hello", "completed"),
        function_call_item("fc_1", "call_1", "f", '{"a":1}', "completed"),
    ]
    body = encode_response(
        id="resp_1",
        created_at=1,
        model="m",
        status="incomplete",
        output=output,
        usage=response_usage(10, 4),
        incomplete_reason="max_output_tokens",
        echo={"instructions": "Be terse.", "temperature": 0.5, "unknown": 1},
    )
    data = json.loads(body)
    assert data["object"] == "response"
    assert data["instructions"] == "Be terse."
    assert data["temperature"] == 0.5
    assert "unknown" not in data  # only the settings a response repeats
    assert data["tool_choice"] == "auto"  # defaults for what the request left out
    decoded, usage = decode_response(data)
    assert decoded.text == "Hello"
    assert decoded.status == "incomplete"
    assert decoded.incomplete_reason == "max_output_tokens"
    [call] = decoded.function_calls
    assert (call.call_id, call.name, call.id) == ("call_1", "f", "fc_1")
    assert call.parsed_arguments() == {"a": 1}
    assert usage == Usage(10, 4, 14)
    assert decode_response_usage(data["usage"]) == ResponseUsage(10, 4, 14)


def test_decoding_is_lenient_where_servers_differ_and_strict_where_it_must_be() -> None:
    data = {
        "output": [
            {"type": "message", "content": [{"type": "refusal", "refusal": "No."}]},
            {"type": "function_call", "name": "f", "arguments": {"a": 1}},
            {"type": "reasoning", "summary": []},
        ],
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    decoded, usage = decode_response(data)
    assert decoded.refusal == "No."
    assert decoded.function_calls[0].arguments == '{"a": 1}'
    assert decoded.function_calls[0].call_id == ""
    assert usage == Usage(3, 2, 5)  # total derived
    assert decode_response({"output": []})[1] is None
    with pytest.raises(ShapeError, match="output"):
        decode_response({"id": "x"})
    with pytest.raises(ShapeError, match="name"):
        decode_response({"output": [{"type": "function_call"}]})
    with pytest.raises(ShapeError, match="type"):
        decode_response_event({"sequence_number": 1})


def test_events_are_numbered_framed_and_decoded() -> None:
    events = ResponseEventEncoder()
    opening = response_object(
        id="r", created_at=0, model="m", status="in_progress", output=[], usage=None
    )
    stream = (
        events.event("response.created", response=opening)
        + events.text_delta("msg_1", 0, [b'"Hel"', b'"lo \\"x\\""'])
        + events.arguments_delta("fc_1", 1, [b'"{\\"a\\""'])
        + events.event("response.completed", response=opening)
    )
    decoded = SSEDecoder().feed(stream)
    kinds = [event.event for event in decoded]
    assert kinds == [
        "response.created",
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.completed",
    ]
    parsed = [decode_response_event(json.loads(event.data)) for event in decoded]
    assert [event.type for event in parsed] == kinds
    assert [event.sequence_number for event in parsed] == [0, 1, 2, 3]
    assert parsed[1].delta == 'Hello "x"'
    assert (parsed[1].item_id, parsed[1].output_index) == ("msg_1", 0)
    assert parsed[1].data["content_index"] == 0
    assert parsed[2].delta == '{"a"'
    assert parsed[3].delta == ""  # only delta events carry one

"""The Responses API (``POST /responses``) read back: whole responses and streamed events.

A response is a list of output items (assistant messages made of ``output_text`` parts,
function calls with a ``call_id``) with a ``status`` (``completed``, or ``incomplete`` with
``incomplete_details.reason`` when ``max_output_tokens`` cut it) and ``usage`` counted in
``input_tokens`` / ``output_tokens``. A stream sends typed events, each with a
``sequence_number``, and ends with ``response.completed`` (or ``.incomplete`` / ``.failed``)
carrying the whole response; it has no ``[DONE]``.

    output, usage = decode_response(json.loads(body))
    output.text, output.function_calls, usage.total_tokens
    event = decode_response_event(json.loads(sse.data))    # event.type, event.delta
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._decode import ShapeError, as_array, as_object
from ._types import Usage

__all__ = [
    "TERMINAL_EVENTS",
    "FunctionCall",
    "ResponseEvent",
    "ResponseOutput",
    "ResponseUsage",
    "decode_response",
    "decode_response_event",
    "decode_response_usage",
]

TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
"""The event types that end a Responses stream, each carrying the whole response."""


@dataclass(frozen=True, slots=True)
class ResponseUsage:
    """A response's token counts; ``total_tokens`` settles a gate's token budget."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A ``function_call`` output item: answer it with a ``function_call_output`` input item
    carrying the same ``call_id``; ``id`` is the item's own id."""

    call_id: str
    name: str
    arguments: str
    id: str | None = None

    def parsed_arguments(self) -> Any:
        """``arguments`` decoded from JSON (raises ``ValueError`` if the model wrote bad JSON)."""
        return json.loads(self.arguments) if self.arguments else {}

    def output(self, result: str) -> dict[str, str]:
        """The input item answering this call: ``{"type": "function_call_output", ...}``."""
        return {"type": "function_call_output", "call_id": self.call_id, "output": result}


@dataclass(frozen=True, slots=True)
class ResponseOutput:
    """What a response said: its text (the ``output_text`` parts of its messages, joined),
    its function calls, and why it stopped short when ``status`` is ``incomplete``."""

    id: str | None
    status: str | None
    text: str
    function_calls: tuple[FunctionCall, ...]
    incomplete_reason: str | None
    refusal: str | None
    model: str | None
    output: tuple[Mapping[str, Any], ...] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ResponseEvent:
    """One streamed event. ``delta`` is the text of ``response.output_text.delta`` or the
    arguments fragment of ``response.function_call_arguments.delta`` ("" otherwise); ``data``
    is the whole event as sent."""

    type: str
    sequence_number: int | None
    delta: str = ""
    output_index: int | None = None
    item_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _int(value: object) -> int:
    return value if type(value) is int else 0


def decode_response_usage(value: object) -> ResponseUsage | None:
    """A response's ``usage``, or None when it has none."""
    if type(value) is not dict:
        return None
    given = _int(value.get("input_tokens")), _int(value.get("output_tokens"))
    total = value.get("total_tokens")
    inputs = value.get("input_tokens_details")
    outputs = value.get("output_tokens_details")
    return ResponseUsage(
        input_tokens=given[0],
        output_tokens=given[1],
        total_tokens=total if type(total) is int else sum(given),
        cached_tokens=_int(inputs.get("cached_tokens")) if type(inputs) is dict else 0,
        reasoning_tokens=_int(outputs.get("reasoning_tokens")) if type(outputs) is dict else 0,
    )


def _string(value: object) -> str | None:
    return value if type(value) is str else None


def _arguments(value: object) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    try:  # some servers send the arguments as an object instead of its JSON text
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        raise ShapeError("a function call's arguments cannot be read as JSON") from None


def decode_response(data: Mapping[str, Any]) -> tuple[ResponseOutput, Usage | None]:
    """A Responses API object: what it said, and its usage in the gate's terms
    (``prompt_tokens`` = input, ``completion_tokens`` = output)."""
    raw_items = as_array(data.get("output"), "output")
    items = tuple(as_object(item, "an output item") for item in raw_items)
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[FunctionCall] = []
    for item in items:
        kind = item.get("type")
        if kind == "message":
            for part in as_array(item.get("content") or [], "a message's content"):
                part = as_object(part, "a content part")
                if part.get("type") == "output_text" and type(part.get("text")) is str:
                    texts.append(part["text"])
                elif part.get("type") == "refusal" and type(part.get("refusal")) is str:
                    refusals.append(part["refusal"])
        elif kind == "function_call":
            name = item.get("name")
            if type(name) is not str:
                raise ShapeError("a function call has no name")
            calls.append(
                FunctionCall(
                    call_id=_string(item.get("call_id")) or "",
                    name=name,
                    arguments=_arguments(item.get("arguments")),
                    id=_string(item.get("id")),
                )
            )
    details = data.get("incomplete_details")
    output = ResponseOutput(
        id=_string(data.get("id")),
        status=_string(data.get("status")),
        text="".join(texts),
        function_calls=tuple(calls),
        incomplete_reason=_string(details.get("reason")) if type(details) is dict else None,
        refusal="".join(refusals) if refusals else None,
        model=_string(data.get("model")),
        output=items,
    )
    usage = decode_response_usage(data.get("usage"))
    if usage is None:
        return output, None
    return output, Usage(usage.input_tokens, usage.output_tokens, usage.total_tokens)


def decode_response_event(data: Mapping[str, Any]) -> ResponseEvent:
    """One event of a Responses stream (`ShapeError` when it has no ``type``)."""
    kind = data.get("type")
    if type(kind) is not str:
        raise ShapeError("a stream event has no type")
    sequence = data.get("sequence_number")
    index = data.get("output_index")
    delta = data.get("delta") if kind.endswith(".delta") else ""
    return ResponseEvent(
        type=kind,
        sequence_number=sequence if type(sequence) is int else None,
        delta=delta if type(delta) is str else "",
        output_index=index if type(index) is int else None,
        item_id=_string(data.get("item_id")),
        data=data,
    )

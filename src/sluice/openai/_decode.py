"""From decoded JSON to values. Lenient where servers differ (content as a string or a list
of parts, ``reasoning_content`` or ``reasoning``, usage missing), strict where a missing piece
means the body is not an answer at all: those raise `ShapeError` (a ``ValueError``).

    choices, usage = decode_chat(json.loads(body))
    for delta in decode_chunk(json.loads(event.data)):
        print(delta.text, end="")
"""

from __future__ import annotations

import array
import base64
import binascii
import json
import sys
from collections.abc import Mapping
from typing import Any

from ._fast import builder
from ._types import ChatDelta, Choice, Model, ToolCall, ToolCallDelta, Usage

# The values every answer and every streamed event builds, at the cost of mutable ones.
_usage = builder(Usage)
_choice_value = builder(Choice)
_tool_call = builder(ToolCall)
_delta = builder(ChatDelta)

__all__ = [
    "ShapeError",
    "decode_chat",
    "decode_chunk",
    "decode_embedding_base64",
    "decode_embeddings",
    "decode_models",
    "decode_usage",
]


class ShapeError(ValueError):
    """Valid JSON, but not the shape the endpoint answers with."""


# Bodies come from json.loads, which only makes dicts and lists: exact type checks are
# several times cheaper than isinstance against the Mapping ABC, and this is the hot path.


def as_object(value: object, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise ShapeError(f"{what} is not a JSON object")
    return value


def as_array(value: object, what: str) -> list[Any]:
    if type(value) is not list:
        raise ShapeError(f"{what} is not a JSON array")
    return value


def decode_usage(value: object) -> Usage | None:
    """``usage`` if it is there; ``total_tokens`` is derived when a server leaves it out."""
    if type(value) is not dict:
        return None
    prompt = value.get("prompt_tokens")
    prompt = prompt if type(prompt) is int else 0
    completion = value.get("completion_tokens")
    completion = completion if type(completion) is int else 0
    total = value.get("total_tokens")
    return _usage(prompt, completion, total if type(total) is int else prompt + completion)


def _text(content: object) -> str:
    if type(content) is str:
        return content
    if content is None:
        return ""
    if type(content) is list:  # content parts: keep the text ones
        return "".join(
            part["text"] for part in content if type(part) is dict and type(part.get("text")) is str
        )
    raise ShapeError(f"message content is a {type(content).__name__}, not text")


def _arguments(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:  # some servers send the arguments as an object instead of its JSON text
        return json.dumps(value)
    except RecursionError:
        raise ShapeError("a tool call's arguments nest too deeply to encode") from None


def _reasoning(message: dict[str, Any]) -> str | None:
    value = message.get("reasoning_content")
    if value is None:
        value = message.get("reasoning")
    return value if type(value) is str else None


def _refusal(message: dict[str, Any]) -> str | None:
    value = message.get("refusal")
    return value if type(value) is str else None


def _tool_calls(value: object) -> tuple[ToolCall, ...]:
    if not value:
        return ()
    calls = []
    for raw in as_array(value, "tool_calls"):
        call = as_object(raw, "a tool call")
        function = as_object(call.get("function") or {}, "a tool call's function")
        calls.append(
            _tool_call(
                id=call.get("id"),
                name=function.get("name") or "",
                arguments=_arguments(function.get("arguments")),
                type=call.get("type") or "function",
            )
        )
    return tuple(calls)


def _choice(raw: object, position: int) -> Choice:
    choice = as_object(raw, "a choice")
    message = choice.get("message")
    if message is None:  # /completions puts the text on the choice itself
        message = {"content": choice.get("text")}
    elif type(message) is not dict:
        raise ShapeError("a choice's message is not a JSON object")
    content = message.get("content")
    calls = message.get("tool_calls")
    index = choice.get("index")
    return _choice_value(
        index if type(index) is int else position,
        content if type(content) is str else _text(content),
        _tool_calls(calls) if calls else (),
        choice.get("finish_reason"),
        _reasoning(message),
        _refusal(message),
    )


def decode_chat(data: Mapping[str, Any]) -> tuple[tuple[Choice, ...], Usage | None]:
    """The choices and usage of a ``chat.completion`` (or a legacy text completion)."""
    raw = as_array(data.get("choices"), "choices")
    if len(raw) == 1:  # the usual case, without the generator machinery
        choices: tuple[Choice, ...] = (_choice(raw[0], 0),)
    else:
        choices = tuple(_choice(item, position) for position, item in enumerate(raw))
    return choices, decode_usage(data.get("usage"))


def _tool_call_deltas(value: object) -> tuple[ToolCallDelta, ...]:
    if not value:
        return ()
    deltas = []
    for position, raw in enumerate(as_array(value, "delta tool_calls")):
        call = as_object(raw, "a tool call delta")
        function = call.get("function")
        function = function if type(function) is dict else {}
        index = call.get("index")
        deltas.append(
            ToolCallDelta(
                index=index if type(index) is int else position,
                id=call.get("id"),
                name=function.get("name"),
                arguments=_arguments(function.get("arguments")),
            )
        )
    return tuple(deltas)


def decode_chunk(data: Mapping[str, Any]) -> list[ChatDelta]:
    """The deltas of one ``chat.completion.chunk``: one per choice, then one carrying
    ``usage`` when the chunk has it (the last chunk, with ``include_usage``)."""
    out = []
    for position, raw in enumerate(as_array(data.get("choices") or [], "choices")):
        choice = as_object(raw, "a choice")
        delta = choice.get("delta")
        if delta is None:  # legacy completions stream text on the choice
            delta = {"content": choice.get("text")}
        delta = as_object(delta, "a choice's delta")
        index = choice.get("index")
        out.append(
            _delta(
                text=_text(delta.get("content")),
                index=index if type(index) is int else position,
                role=delta.get("role"),
                tool_calls=_tool_call_deltas(delta.get("tool_calls")),
                finish_reason=choice.get("finish_reason"),
                usage=None,
                reasoning=_reasoning(delta),
                refusal=_refusal(delta),
            )
        )
    usage = decode_usage(data.get("usage"))
    if usage is not None:
        out.append(ChatDelta(text="", usage=usage))
    return out


def decode_embedding_base64(text: str) -> list[float]:
    """A vector sent with ``encoding_format="base64"``: little-endian float32, base64."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ShapeError(f"an embedding is not valid base64: {exc}") from None
    if len(raw) % 4:
        raise ShapeError("a base64 embedding is not a whole number of float32 values")
    floats = array.array("f")
    floats.frombytes(raw)
    if sys.byteorder == "big":
        floats.byteswap()
    return floats.tolist()


def _vector(value: object) -> list[float]:
    if type(value) is list:
        return value
    if type(value) is str:
        return decode_embedding_base64(value)
    raise ShapeError(f"an embedding is a {type(value).__name__}, not a list of numbers")


def decode_embeddings(data: Mapping[str, Any]) -> tuple[tuple[list[float], ...], Usage | None]:
    """The vectors of an embeddings answer, in input order, and its usage."""
    items = [as_object(item, "an embedding") for item in as_array(data.get("data"), "data")]
    if all(type(item.get("index")) is int for item in items):
        items.sort(key=lambda item: item["index"])
    vectors = tuple(_vector(item.get("embedding")) for item in items)
    return vectors, decode_usage(data.get("usage"))


def decode_models(data: Mapping[str, Any]) -> tuple[tuple[Model, ...], None]:
    """The entries of ``GET /models`` (and no usage: listing models costs no tokens)."""
    models = []
    for raw in as_array(data.get("data"), "data"):
        item = as_object(raw, "a model")
        model_id = item.get("id")
        if type(model_id) is not str:
            raise ShapeError("a model has no id")
        created = item.get("created")
        models.append(
            Model(
                id=model_id,
                owned_by=item.get("owned_by"),
                created=created if type(created) is int else None,
            )
        )
    return tuple(models), None

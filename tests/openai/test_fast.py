"""Values built fast are the same values: same class, frozen, equal, hashable, same repr."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from sluice.llm import ChatResult, Embeddings, Request
from sluice.openai import ChatDelta, Choice, ToolCall, Usage
from sluice.openai._fast import builder

EXAMPLES: list[tuple[type[Any], dict[str, Any]]] = [
    (Usage, {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
    (ToolCall, {"id": "c1", "name": "f", "arguments": "{}", "type": "function"}),
    (
        Choice,
        {
            "index": 0,
            "text": "hi",
            "tool_calls": (),
            "finish_reason": "stop",
            "reasoning": None,
            "refusal": None,
        },
    ),
    (
        ChatDelta,
        {
            "text": "h",
            "index": 0,
            "role": "assistant",
            "tool_calls": (),
            "finish_reason": None,
            "usage": None,
            "reasoning": None,
            "refusal": "no",
        },
    ),
    (Request, {"method": "GET", "url": "http://x/v1/models", "headers": {}, "content": None}),
    (
        ChatResult,
        {
            "text": "hi",
            "tool_calls": (),
            "finish_reason": "stop",
            "usage": Usage(1, 2, 3),
            "model": "m",
            "id": "x",
            "choices": (),
            "status": 200,
            "request_id": "r",
            "rate_limits": None,
            "latency": 0.5,
            "ttfb": 0.25,
            "headers": {},
            "raw": {},
            "refusal": None,
        },
    ),
    (
        Embeddings,
        {
            "vectors": ([0.0],),
            "usage": None,
            "model": "m",
            "status": 200,
            "request_id": None,
            "rate_limits": None,
            "latency": 0.5,
            "ttfb": 0.25,
            "headers": {},
        },
    ),
]


@pytest.mark.parametrize(("cls", "fields"), EXAMPLES, ids=[cls.__name__ for cls, _ in EXAMPLES])
def test_a_fast_value_is_the_value(cls: type[Any], fields: dict[str, Any]) -> None:
    built = builder(cls)(**fields)
    normal = cls(**fields)
    assert type(built) is cls
    assert built == normal
    assert repr(built) == repr(normal)
    assert dataclasses.astuple(built) == dataclasses.astuple(normal)
    name = next(iter(fields))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, name, fields[name])
    if all(isinstance(value, int | str | float | tuple | type(None)) for value in fields.values()):
        assert hash(built) == hash(normal)


def test_fields_by_position_too() -> None:
    assert builder(Usage)(1, 2, 3) == Usage(1, 2, 3)


def test_every_field_must_be_given() -> None:
    with pytest.raises(TypeError):
        builder(ToolCall)(id="c1", name="f", arguments="{}")  # no default applied: explicit

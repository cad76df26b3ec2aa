"""Which functions the simulated model calls, and with what arguments: deterministic from a
seed, valid against each function's JSON schema.

The seam is `ToolCaller`: ``(tools, tool_choice, seed) -> [(name, arguments JSON), ...]``,
with ``tools`` and ``tool_choice`` in the chat completions shape
(``{"type": "function", "function": {"name", "parameters"}}``, and ``"auto"``, ``"none"``,
``"required"`` or ``{"type": "function", "function": {"name": ...}}``). The Responses API
translates its own shapes to these before asking. `simple_tool_calls` is the default: one
call, to the named function or to one picked by the seed, with arguments built from the
schema by `schema_value` (required properties, types, enums, bounds, nesting to a fixed
depth), which structured outputs use too.

    simple_tool_calls([{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}],
        "required", seed=3)                          # [("f", '{"q":"harbor"}')]
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["ToolCaller", "schema_value", "simple_tool_calls"]

ToolCaller = Callable[[Sequence[Mapping[str, Any]], object, int], list[tuple[str, str]]]
"""``(tools, tool_choice, seed) -> [(function name, arguments as JSON text), ...]``; an empty
list means the model answers in text."""

_WORDS = ("river", "stone", "harbor", "lantern", "meadow", "copper", "falcon", "summit")
_MAX_DEPTH = 6  # deeper schemas get empty objects and arrays: still valid, and bounded
_MAX_ITEMS = 3


def _function(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    function = tool.get("function")
    return function if isinstance(function, Mapping) else {}


def _chosen(tools: Sequence[Mapping[str, Any]], tool_choice: object, seed: int) -> Any:
    """The function definition to call, or None for a text answer."""
    functions = [_function(tool) for tool in tools if tool.get("type") == "function"]
    if not functions or tool_choice == "none":
        return None
    if isinstance(tool_choice, Mapping):
        wanted = _function(tool_choice).get("name")
        return next((f for f in functions if f.get("name") == wanted), None)
    return functions[seed % len(functions)]


def simple_tool_calls(
    tools: Sequence[Mapping[str, Any]], tool_choice: object, seed: int
) -> list[tuple[str, str]]:
    """One call for ``"auto"``, ``"required"`` or a named function; none for ``"none"``."""
    function = _chosen(tools, tool_choice, seed)
    if function is None:
        return []
    rng = random.Random(seed)
    parameters = function.get("parameters")
    schema = parameters if isinstance(parameters, Mapping) else {"type": "object"}
    value = _value(schema, rng, 0)
    if not isinstance(value, dict):  # arguments are always an object
        value = {}
    return [(str(function.get("name", "")), json.dumps(value, separators=(",", ":")))]


def schema_value(schema: Mapping[str, Any], seed: int) -> Any:
    """A value valid against ``schema`` (the subset described above), the same for the same
    seed: what a structured output answers with."""
    return _value(schema, random.Random(seed), 0)


def _type(schema: Mapping[str, Any]) -> object:
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first that is not null
        return next((k for k in kind if k != "null"), "null")
    if kind is None and "properties" in schema:
        return "object"
    return kind


def _value(schema: Mapping[str, Any], rng: random.Random, depth: int) -> Any:
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[rng.randrange(len(enum))]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options and isinstance(options[0], Mapping):
            return _value(options[0], rng, depth + 1)
    kind = _type(schema)
    if kind == "object":
        return _object(schema, rng, depth)
    if kind == "array":
        items = schema.get("items")
        low = schema.get("minItems", 1)
        count = max(low if isinstance(low, int) else 1, 1) if depth < _MAX_DEPTH else 0
        count = min(count, _MAX_ITEMS)
        if not isinstance(items, Mapping):
            return [rng.choice(_WORDS) for _ in range(count)]
        return [_value(items, rng, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, rng, kind == "integer")
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string(schema, rng)


def _object(schema: Mapping[str, Any], rng: random.Random, depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or depth >= _MAX_DEPTH:
        return {}
    required = schema.get("required")
    names = list(properties) if not isinstance(required, list) else required
    out: dict[str, Any] = {}
    for name in names:
        sub = properties.get(name)
        out[str(name)] = _value(sub if isinstance(sub, Mapping) else {}, rng, depth + 1)
    return out


def _number(schema: Mapping[str, Any], rng: random.Random, integer: bool) -> int | float:
    low = schema.get("minimum", 0)
    high = schema.get("maximum", 100)
    low = low if isinstance(low, int | float) and not isinstance(low, bool) else 0
    high = high if isinstance(high, int | float) and not isinstance(high, bool) else low + 100
    high = max(high, low)
    if integer:
        return rng.randint(int(-(-low // 1)), max(int(high // 1), int(-(-low // 1))))
    return min(max(round(rng.uniform(low, high), 2), low), high)


def _string(schema: Mapping[str, Any], rng: random.Random) -> str:
    low = schema.get("minLength")
    high = schema.get("maxLength")
    text = " ".join(rng.choice(_WORDS) for _ in range(2))
    while isinstance(low, int) and len(text) < low:
        text += " " + rng.choice(_WORDS)
    return text[:high] if isinstance(high, int) and high >= 0 else text

"""Which functions the simulated model calls, and with what arguments: deterministic from a
seed, valid against each function's JSON schema.

The seam is `ToolCaller`: ``(tools, tool_choice, seed) -> [(name, arguments JSON), ...]``,
with ``tools`` and ``tool_choice`` in the chat completions shape
(``{"type": "function", "function": {"name", "parameters"}}``, and ``"auto"``, ``"none"``,
``"required"`` or ``{"type": "function", "function": {"name": ...}}``). The Responses API
translates its own shapes to these before asking. `simple_tool_calls` is the default: one
call, to the named function or to one picked by the seed, with arguments made up from its
schema by `sample_input` (the rule the Messages API's tool inputs follow too).

    simple_tool_calls([{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}],
        "required", seed=3)                          # [("f", '{"q":"sim"}')]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..openai import encode_json
from ._tool_input import sample_input

__all__ = ["ToolCaller", "simple_tool_calls"]

ToolCaller = Callable[[Sequence[Mapping[str, Any]], object, int], list[tuple[str, str]]]
"""``(tools, tool_choice, seed) -> [(function name, arguments as JSON text), ...]``; an empty
list means the model answers in text."""


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
    parameters = function.get("parameters")
    value = sample_input(parameters if isinstance(parameters, Mapping) else {"type": "object"})
    if not isinstance(value, dict):  # arguments are always an object
        value = {}
    return [(str(function.get("name", "")), encode_json(value).decode())]

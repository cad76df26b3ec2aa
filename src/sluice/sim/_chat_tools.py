"""Tools and structured outputs as a chat request asks for them.

Read from a body: ``tools`` (function tools), ``tool_choice``, ``parallel_tool_calls`` and
``response_format`` are checked as the API checks them (a named tool must exist, a ``strict``
schema must follow the strict rules, ``json_object`` needs the word JSON in the messages),
and the conversation's tool turns by `_conversation`.

    spec, tool_tokens = read_structured(body, prompt_key, after_tool)  # spec None: neither
    spec.tools[0].arguments(seed)      # a value satisfying the first tool's parameters
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._request_error import invalid
from ._tools import (
    Definitions,
    OutputFormat,
    Structured,
    ToolSpec,
    cached_definitions,
    check_name,
    definitions_tokens,
    make_structured,
    schema_format,
    tool_spec,
    unique_tools,
)

__all__ = ["read_structured"]

_CHOICES = ("none", "auto", "required")
_OBJECT = {"type": "object", "properties": {}}


def _schema(value: object, where: str, param: str) -> Mapping[str, Any]:
    if value is None:
        return _OBJECT
    if not isinstance(value, dict):
        raise invalid(f"{where} must be a JSON Schema object", param)
    return value


def _tools(value: object) -> tuple[ToolSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid("tools must be a list of tools", "tools")
    specs: list[ToolSpec] = []
    for i, tool in enumerate(value):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise invalid(
                f"{where}: the simulator serves function tools only "
                '({"type": "function", "function": {...}})',
                "tools",
            )
        function = tool.get("function")
        if not isinstance(function, dict):
            raise invalid(f"{where}.function must be an object", "tools")
        name = check_name(function.get("name"), f"{where}.function.name", "tools")
        parameters = _schema(function.get("parameters"), f"{where}.function.parameters", "tools")
        specs.append(tool_spec(name, parameters, function.get("strict") is True))
    return unique_tools(specs)


def _choice(value: object, tools: tuple[ToolSpec, ...]) -> str:
    if value is None:
        return "auto" if tools else "none"
    if isinstance(value, str):
        if value not in _CHOICES:
            raise invalid(
                f"tool_choice must be one of {', '.join(_CHOICES)} or a named function, "
                f"got {value!r}"[:200],
                "tool_choice",
            )
        if value != "none" and not tools:
            raise invalid(f"tool_choice {value!r} is only allowed when tools are given", "tools")
        return value
    named = value if isinstance(value, dict) else {}
    function = named.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or named.get("type") != "function":
        raise invalid(
            'tool_choice must be a string or {"type": "function", "function": {"name": ...}}',
            "tool_choice",
        )
    if name not in {tool.name for tool in tools}:
        raise invalid(f"tool_choice names function {name!r}, which is not in tools", "tool_choice")
    return name


def _output(value: object) -> OutputFormat | None:
    if value is None:
        return None
    fields = value if isinstance(value, dict) else {}
    kind = fields.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return OutputFormat("json_object")
    if kind != "json_schema":
        raise invalid(
            "response_format.type must be 'text', 'json_object' or 'json_schema'",
            "response_format",
        )
    spec = fields.get("json_schema")
    if not isinstance(spec, dict):
        raise invalid("response_format.json_schema must be an object", "response_format")
    name = check_name(spec.get("name"), "response_format.json_schema.name", "response_format")
    schema = _schema(spec.get("schema"), "response_format.json_schema.schema", "response_format")
    return schema_format(name, schema, spec.get("strict") is True, "response_format")


def _names(raw_tools: object, raw_format: object) -> tuple[str, ...]:
    names = ["chat"]
    if isinstance(raw_tools, list):
        for tool in raw_tools:
            function = tool.get("function") if isinstance(tool, dict) else None
            name = function.get("name") if isinstance(function, dict) else None
            names.append(name if isinstance(name, str) else "")
    spec = raw_format.get("json_schema") if isinstance(raw_format, dict) else None
    name = spec.get("name") if isinstance(spec, dict) else None
    names.append(name if isinstance(name, str) else "")
    return tuple(names)


def read_structured(
    body: Mapping[str, Any], prompt_key: bytes, after_tool: bool
) -> tuple[Structured | None, int]:
    """The request's tools and response format (None if it has neither), and the prompt
    tokens its tool definitions cost (their JSON text, counted by the simulator's tokenizer).
    ``after_tool``: whether the last message is a tool result."""
    raw_tools = body.get("tools")
    raw_format = body.get("response_format")
    if raw_tools is None and raw_format is None:
        choice = body.get("tool_choice")
        if choice is not None and choice != "none":
            raise invalid("tool_choice is only allowed when tools are given", "tools")
        return None, 0

    def build() -> Definitions:
        tools = _tools(raw_tools)
        tokens = definitions_tokens(raw_tools) if tools else 0
        return Definitions(tools, _output(raw_format), tokens)

    param = "tools" if raw_tools is not None else "response_format"
    definitions = cached_definitions(
        _names(raw_tools, raw_format), raw_tools, raw_format, build, param
    )
    output = definitions.output
    if output is not None and output.kind == "json_object" and b"json" not in prompt_key.lower():
        raise invalid(
            "'messages' must contain the word 'json' in some form, to use "
            "'response_format' of type 'json_object'",
            "messages",
        )
    tools = definitions.tools
    choice = _choice(body.get("tool_choice"), tools)
    parallel = body.get("parallel_tool_calls", True)
    if not isinstance(parallel, bool):
        raise invalid("parallel_tool_calls must be a boolean", "parallel_tool_calls")
    return make_structured(tools, choice, parallel, output, after_tool), definitions.tokens

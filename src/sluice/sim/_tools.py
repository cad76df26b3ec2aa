"""Tools and structured outputs as a chat request asks for them, and the calls that answer.

Read from a body: ``tools`` (function tools), ``tool_choice``, ``parallel_tool_calls`` and
``response_format`` are checked as the API checks them (a named tool must exist, a ``strict``
schema must follow the strict rules, ``json_object`` needs the word JSON in the messages),
and the conversation's tool turns by `_conversation`.

Which calls answer is `_tool_calls`' business. A schema is compiled once per distinct
definition (a bounded cache): requests that share their tools pay for checking and
compiling them once.

    spec, tool_tokens = read_structured(body, prompt_key, after_tool)  # spec None: neither
    spec.tools[0].arguments(seed)      # a value satisfying the first tool's parameters
"""

from __future__ import annotations

import copy
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..openai import SchemaError, compile_schema, encode_json
from ..openai._fast import builder
from ._content import count_tokens
from ._request_error import RequestError
from ._strict import check_strict

__all__ = ["OutputFormat", "Structured", "ToolSpec", "read_structured", "tool_spec"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CHOICES = ("none", "auto", "required")
_OBJECT = {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call: its name, and ``arguments``, which makes a value
    satisfying its parameters' schema from a seed (see `tool_spec`)."""

    name: str
    arguments: Callable[[int], Any]
    strict: bool = False


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """``response_format``: ``json_object`` (any object; ``content`` None) or
    ``json_schema`` (``content`` makes a value satisfying the schema from a seed)."""

    kind: str
    name: str = ""
    content: Callable[[int], Any] | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class Structured:
    """What a chat request asks for beyond text. ``choice`` is ``none``, ``auto``,
    ``required`` or the name of the function it forces."""

    tools: tuple[ToolSpec, ...] = ()
    choice: str = "none"
    parallel: bool = True
    output: OutputFormat | None = None
    after_tool: bool = False


_structured = builder(Structured)  # one per request: at the cost of a mutable value


def _invalid(message: str, param: str) -> RequestError:
    return RequestError(400, message, param=param)


def _name(value: object, where: str, param: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise _invalid(
            f"{where} must be 1 to 64 letters, digits, underscores or dashes, got {value!r}"[:200],
            param,
        )
    return value


def _schema(value: object, where: str, param: str) -> Mapping[str, Any]:
    if value is None:
        return _OBJECT
    if not isinstance(value, dict):
        raise _invalid(f"{where} must be a JSON Schema object", param)
    return value


def _compiled(schema: Mapping[str, Any], what: str, param: str) -> Callable[[int], Any]:
    try:
        return compile_schema(schema)
    except SchemaError as exc:
        raise _invalid(f"{what}: its schema cannot be satisfied: {exc}", param) from None


def tool_spec(name: str, parameters: Mapping[str, Any] | None, strict: bool) -> ToolSpec:
    """A function tool from its definition's parts (whichever API's shape they came in):
    the schema checked (strict rules when ``strict``) and compiled; `RequestError` (400,
    ``param="tools"``) if it is not a satisfiable object schema.

        spec = tool_spec("lookup", {"type": "object", "properties": {}}, strict=False)
    """
    schema = _OBJECT if parameters is None else parameters
    if strict:
        check_strict(schema, f"function {name!r}", "tools")
    if schema.get("type", "object") != "object":
        raise _invalid(f"function {name!r}: its parameters must describe an object", "tools")
    if "type" not in schema:
        schema = {"type": "object", **schema}
    return ToolSpec(name, _compiled(schema, f"function {name!r}", "tools"), strict)


def _tools(value: object) -> tuple[ToolSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid("tools must be a list of tools", "tools")
    specs: list[ToolSpec] = []
    for i, tool in enumerate(value):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise _invalid(
                f"{where}: the simulator serves function tools only "
                '({"type": "function", "function": {...}})',
                "tools",
            )
        function = tool.get("function")
        if not isinstance(function, dict):
            raise _invalid(f"{where}.function must be an object", "tools")
        name = _name(function.get("name"), f"{where}.function.name", "tools")
        parameters = _schema(function.get("parameters"), f"{where}.function.parameters", "tools")
        specs.append(tool_spec(name, parameters, function.get("strict") is True))
    if len({spec.name for spec in specs}) != len(specs):
        raise _invalid("tools: two tools share a name", "tools")
    return tuple(specs)


def _choice(value: object, tools: tuple[ToolSpec, ...]) -> str:
    if value is None:
        return "auto" if tools else "none"
    if isinstance(value, str):
        if value not in _CHOICES:
            raise _invalid(
                f"tool_choice must be one of {', '.join(_CHOICES)} or a named function, "
                f"got {value!r}"[:200],
                "tool_choice",
            )
        if value != "none" and not tools:
            raise _invalid(f"tool_choice {value!r} is only allowed when tools are given", "tools")
        return value
    named = value if isinstance(value, dict) else {}
    function = named.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or named.get("type") != "function":
        raise _invalid(
            'tool_choice must be a string or {"type": "function", "function": {"name": ...}}',
            "tool_choice",
        )
    if name not in {tool.name for tool in tools}:
        raise _invalid(f"tool_choice names function {name!r}, which is not in tools", "tool_choice")
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
        raise _invalid(
            "response_format.type must be 'text', 'json_object' or 'json_schema'",
            "response_format",
        )
    spec = fields.get("json_schema")
    if not isinstance(spec, dict):
        raise _invalid("response_format.json_schema must be an object", "response_format")
    name = _name(spec.get("name"), "response_format.json_schema.name", "response_format")
    schema = _schema(spec.get("schema"), "response_format.json_schema.schema", "response_format")
    strict = spec.get("strict") is True
    what = f"response_format {name!r}"
    if strict:
        check_strict(schema, what, "response_format")
    return OutputFormat("json_schema", name, _compiled(schema, what, "response_format"), strict)


@dataclass(frozen=True, slots=True)
class _Definitions:
    tools: tuple[ToolSpec, ...]
    output: OutputFormat | None
    tokens: int


def _definitions(raw_tools: object, raw_format: object) -> _Definitions:
    tools = _tools(raw_tools)
    tokens = count_tokens(encode_json(raw_tools).decode()) if tools else 0
    return _Definitions(tools, _output(raw_format), tokens)


class _DefinitionsCache:
    """Checked and compiled definitions by the names they declare, each entry kept with the
    definitions it was made from: a hit is an equal definition (compared in full, at C
    speed), a miss (new, or changed under the same names) is checked and compiled anew."""

    __slots__ = ("_entries", "_size")

    def __init__(self, size: int) -> None:
        self._entries: OrderedDict[tuple[str, ...], tuple[object, object, _Definitions]] = (
            OrderedDict()
        )
        self._size = size

    def get(self, raw_tools: object, raw_format: object) -> _Definitions:
        key = _names(raw_tools, raw_format)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == raw_tools and entry[1] == raw_format:
            self._entries.move_to_end(key)
            return entry[2]
        definitions = _definitions(raw_tools, raw_format)
        self._entries[key] = (copy.deepcopy(raw_tools), copy.deepcopy(raw_format), definitions)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return definitions


def _names(raw_tools: object, raw_format: object) -> tuple[str, ...]:
    names: list[str] = []
    if isinstance(raw_tools, list):
        for tool in raw_tools:
            function = tool.get("function") if isinstance(tool, dict) else None
            name = function.get("name") if isinstance(function, dict) else None
            names.append(name if isinstance(name, str) else "")
    spec = raw_format.get("json_schema") if isinstance(raw_format, dict) else None
    name = spec.get("name") if isinstance(spec, dict) else None
    names.append(name if isinstance(name, str) else "")
    return tuple(names)


_CACHE = _DefinitionsCache(256)


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
            raise _invalid("tool_choice is only allowed when tools are given", "tools")
        return None, 0
    try:
        definitions = _CACHE.get(raw_tools, raw_format)
    except RecursionError:  # copying, comparing or encoding a schema nested past the stack
        param = "tools" if raw_tools is not None else "response_format"
        raise _invalid(f"{param}: a schema nests too deeply", param) from None
    output = definitions.output
    if output is not None and output.kind == "json_object" and b"json" not in prompt_key.lower():
        raise _invalid(
            "'messages' must contain the word 'json' in some form, to use "
            "'response_format' of type 'json_object'",
            "messages",
        )
    tools = definitions.tools
    choice = _choice(body.get("tool_choice"), tools)
    parallel = body.get("parallel_tool_calls", True)
    if not isinstance(parallel, bool):
        raise _invalid("parallel_tool_calls must be a boolean", "parallel_tool_calls")
    return _structured(tools, choice, parallel, output, after_tool), definitions.tokens

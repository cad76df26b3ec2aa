"""Tools and structured outputs as a chat request asks for them, and the calls that answer.

Read from a body: ``tools`` (function tools), ``tool_choice``, ``parallel_tool_calls`` and
``response_format`` are checked as the API checks them (a named tool must exist, a ``strict``
schema must follow the strict rules, ``json_object`` needs the word JSON in the messages),
and so is the conversation: a ``tool`` message must answer a call of the assistant message
before it, and an assistant's calls must all be answered before the conversation goes on.

Which calls answer (`choose_calls`, shared by every endpoint that offers tools):

- ``tool_choice="none"``, or no tools: no call.
- ``"auto"`` (the default with tools): calls when the last message is not a tool result;
  after a tool result, the answer is text (or the response format's JSON).
- ``"required"``, or a named function: always calls (the named one).
- With ``parallel_tool_calls`` (the default) and two tools or more, ``auto`` and ``required``
  call two distinct tools; otherwise one. Which tools, and each call's arguments (generated
  from the tool's ``parameters`` schema), follow from the seed and the request.

    spec, tool_tokens = read_structured(body, prompt_key, after_tool)  # spec None: neither
    calls = choose_calls(spec.tools, spec.choice, spec.parallel, spec.after_tool, seed=42)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..openai import SchemaError, ToolCall, encode_json, schema_instance
from ._content import count_tokens
from ._request_error import RequestError

__all__ = [
    "OutputFormat",
    "Structured",
    "ToolSpec",
    "call_seed",
    "choose_calls",
    "conversation_tokens",
    "read_structured",
]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CHOICES = ("none", "auto", "required")
_OBJECT = {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call: its name and the JSON Schema of its arguments."""

    name: str
    parameters: Mapping[str, Any]
    strict: bool = False


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """``response_format``: ``json_object`` (any object) or ``json_schema`` (``schema``)."""

    kind: str
    name: str = ""
    schema: Mapping[str, Any] | None = None
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
        strict = function.get("strict") is True
        if strict:
            check_strict(parameters, f"function {name!r}", "tools")
        if parameters.get("type", "object") != "object":
            raise _invalid(f"{where}.function.parameters must describe an object", "tools")
        specs.append(ToolSpec(name, parameters, strict))
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


def _output(value: object, prompt_key: bytes) -> OutputFormat | None:
    if value is None:
        return None
    fields = value if isinstance(value, dict) else {}
    kind = fields.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        if b"json" not in prompt_key.lower():
            raise _invalid(
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'",
                "messages",
            )
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
    if strict:
        check_strict(schema, f"response_format {name!r}", "response_format")
    return OutputFormat("json_schema", name, schema, strict)


def check_strict(schema: Mapping[str, Any], what: str, param: str) -> None:
    """The rules of strict mode: every object closes (``additionalProperties: false``) and
    requires every property; the root is an object. `RequestError` naming the place."""
    if schema.get("type") != "object" and "anyOf" in schema:
        raise _invalid(f"Invalid schema for {what}: the root must be an object, not anyOf", param)
    pending: list[tuple[object, str]] = [(schema, "()")]
    seen = 0
    while pending:
        node, context = pending.pop()
        seen += 1
        if seen > 10_000 or not isinstance(node, dict):
            continue
        properties = node.get("properties")
        if node.get("type") == "object" or isinstance(properties, dict):
            if node.get("additionalProperties") is not False:
                raise _invalid(
                    f"Invalid schema for {what}: in context={context}, 'additionalProperties' "
                    "must be given and be false",
                    param,
                )
            missing = [key for key in (properties or {}) if key not in (node.get("required") or ())]
            if missing:
                raise _invalid(
                    f"Invalid schema for {what}: in context={context}, 'required' must list "
                    f"every key in properties; missing {missing[0]!r}",
                    param,
                )
        for key in ("properties", "$defs", "definitions"):
            children = node.get(key)
            if isinstance(children, dict):
                pending += [(sub, f"{context}/{key}/{name}") for name, sub in children.items()]
        for key in ("anyOf", "allOf", "prefixItems"):
            children = node.get(key)
            if isinstance(children, list):
                pending += [(sub, f"{context}/{key}/{i}") for i, sub in enumerate(children)]
        if isinstance(node.get("items"), dict):
            pending.append((node["items"], f"{context}/items"))


def conversation_tokens(messages: Sequence[Any]) -> tuple[int, bytes, bool]:
    """Check the tool turns of a conversation; the tokens and key of its assistant tool
    calls, and whether the last message is a tool result."""
    tokens = 0
    key: list[bytes] = []
    open_calls: dict[str, int] = {}
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in open_calls:
                raise _invalid(
                    f"messages[{i}]: a message with role 'tool' must answer a tool call of the "
                    f"assistant message before it (tool_call_id {call_id!r} is not one)"[:300],
                    "messages",
                )
            del open_calls[call_id]
            continue
        if open_calls:
            raise _invalid(
                f"messages[{i}]: an assistant message with 'tool_calls' must be followed by "
                f"tool messages answering each call; {next(iter(open_calls))!r} is unanswered",
                "messages",
            )
        calls = message.get("tool_calls") if role == "assistant" else None
        if not calls:
            continue
        if not isinstance(calls, list):
            raise _invalid(f"messages[{i}].tool_calls must be a list", "messages")
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            call_id = call.get("id") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(call_id, str):
                raise _invalid(
                    f"messages[{i}].tool_calls: each call needs an 'id' and a 'function' "
                    "with 'name' and 'arguments'",
                    "messages",
                )
            name, arguments = function.get("name"), function.get("arguments")
            if not isinstance(name, str) or not isinstance(arguments, str):
                raise _invalid(
                    f"messages[{i}].tool_calls: function 'name' and 'arguments' must be strings",
                    "messages",
                )
            open_calls[call_id] = i
            tokens += count_tokens(name) + count_tokens(arguments)
            key.append(f"{name}\x1f{arguments}".encode())
    last = messages[-1].get("role") if messages else None
    return tokens, b"\x1e".join(key), last in ("tool", "function")


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
    tools = _tools(raw_tools)
    choice = _choice(body.get("tool_choice"), tools)
    parallel = body.get("parallel_tool_calls", True)
    if not isinstance(parallel, bool):
        raise _invalid("parallel_tool_calls must be a boolean", "parallel_tool_calls")
    output = _output(raw_format, prompt_key)
    tokens = count_tokens(encode_json(raw_tools).decode()) if tools else 0
    return Structured(tools, choice, parallel, output, after_tool), tokens


def call_seed(seed: int, model: str, prompt_key: bytes) -> int:
    """The 64-bit seed of one request's structured answer."""
    digest = hashlib.blake2b(
        f"{seed}\x00{model}\x00".encode() + prompt_key, digest_size=8, person=b"sim-tool"
    ).digest()
    return int.from_bytes(digest, "little")


def _call_id(seed: int, index: int) -> str:
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=12).hexdigest()
    return f"call_{digest}"


def choose_calls(
    tools: Sequence[ToolSpec], choice: str, parallel: bool, after_tool: bool, seed: int
) -> tuple[ToolCall, ...]:
    """The calls that answer (see the module docstring for the rule); empty for a text
    answer. Arguments satisfy each tool's schema. `RequestError` when a schema cannot be
    satisfied."""
    if not tools or choice == "none" or (choice == "auto" and after_tool):
        return ()
    if choice not in ("auto", "required"):
        chosen = [next(tool for tool in tools if tool.name == choice)]
    else:
        first = seed % len(tools)
        chosen = [tools[first]]
        if parallel and len(tools) > 1:
            chosen.append(tools[(first + 1 + (seed >> 16) % (len(tools) - 1)) % len(tools)])
    calls = []
    for index, tool in enumerate(chosen):
        schema = tool.parameters
        if "type" not in schema:
            schema = {"type": "object", **schema}
        try:
            arguments = schema_instance(schema, seed + index + 1)
        except SchemaError as exc:
            raise _invalid(
                f"function {tool.name!r}: its parameters schema: {exc}", "tools"
            ) from None
        calls.append(ToolCall(_call_id(seed, index), tool.name, encode_json(arguments).decode()))
    return tuple(calls)

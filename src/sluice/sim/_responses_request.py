"""``POST /v1/responses`` bodies as the simulator reads them: checked and counted, their
tools and text format read into the values chat's are (`_tools`).

``input`` is a string (one user message) or a list of items: messages (``role`` and
``content``, a string or ``input_text`` / ``output_text`` / ``input_image`` / ``input_file``
parts), ``function_call`` and ``function_call_output`` items; ``reasoning`` items are
accepted and cost nothing. Tokens are counted as for chat: 3 per item plus its text (a
function call: its name and arguments; an image or file part: 85), ``instructions`` as one
more message, the function tools' JSON, plus 3 to prime the reply. A string input with
``instructions`` therefore costs what the same system and user messages cost on chat, and
gets the same text.

The answer follows chat's rules (`_tool_calls`, `_answer`): function ``tools`` with
``tool_choice`` and ``parallel_tool_calls``, a turn ending in a ``function_call_output``
answered in text under ``"auto"``, ``text.format`` ``json_schema`` (``strict`` checked as
chat checks it) or ``json_object``; hosted tools are accepted and never called.

    inference = parse_responses(body, config)
    inference.prompt_tokens, inference.structured
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..openai._responses_encode import ECHOED
from ._body import decode_json
from ._config import SimConfig
from ._content import MEDIA_TOKENS, MESSAGE_OVERHEAD, REPLY_PRIMING, TokenBudget
from ._protocol import Inference, read_model, shown
from ._request_error import RequestError
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

__all__ = ["ResponsesInference", "parse_responses"]

_ROLES = frozenset({"user", "system", "developer", "assistant"})
_MIN_OUTPUT_TOKENS = 16  # the API refuses a smaller max_output_tokens
_FORMATS = ("text", "json_object", "json_schema")


def _invalid(message: str, param: str = "input") -> RequestError:
    return RequestError(400, message, param=param)


@dataclass(slots=True)
class ResponsesInference(Inference):
    """A parsed Responses request; ``echo`` holds the settings the response repeats."""

    echo: dict[str, Any] = field(default_factory=dict)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{where} must be a string, got {shown(value)}")
    return value


def _content(content: object, where: str, tokens: TokenBudget) -> str:
    """Count a message's content; its text (for the answer's key)."""
    if isinstance(content, str):
        tokens.add_text(content)
        return content
    if not isinstance(content, list):
        raise _invalid(f"{where}.content must be a string or a list of content parts")
    texts: list[str] = []
    for i, part in enumerate(content):
        at = f"{where}.content[{i}]"
        if not isinstance(part, dict):
            raise _invalid(f"{at} must be an object")
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            text = _text(part.get("text"), f"{at}.text")
            tokens.add_text(text)
            texts.append(text)
        elif kind == "refusal":
            tokens.add_text(_text(part.get("refusal"), f"{at}.refusal"))
        elif kind in ("input_image", "input_file"):
            tokens.total += MEDIA_TOKENS
            source = part.get("image_url") or part.get("file_id") or part.get("filename")
            texts.append(f"{kind}\x1f{source if isinstance(source, str) else ''}")
        else:
            raise _invalid(
                f"{at}.type must be input_text, output_text, refusal, input_image or "
                f"input_file, got {shown(kind)}"
            )
    return "\n".join(texts)


def _item(item: object, where: str, tokens: TokenBudget) -> bytes | None:
    """Count one input item; its part of the prompt key (None: it adds nothing)."""
    if not isinstance(item, dict):
        raise _invalid(f"{where} must be an object")
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise _invalid(f"{where}.role must be one of {', '.join(sorted(_ROLES))}")
        tokens.total += MESSAGE_OVERHEAD
        return f"{role}\x1f{_content(item.get('content'), where, tokens)}".encode()
    if kind == "function_call":
        _text(item.get("call_id"), f"{where}.call_id")
        name = _text(item.get("name"), f"{where}.name")
        arguments = _text(item.get("arguments"), f"{where}.arguments")
        tokens.total += MESSAGE_OVERHEAD
        tokens.add_text(name)
        tokens.add_text(arguments)
        return f"function_call\x1f{name}\x1f{arguments}".encode()
    if kind == "function_call_output":
        _text(item.get("call_id"), f"{where}.call_id")
        output = item.get("output")
        tokens.total += MESSAGE_OVERHEAD
        text = output if isinstance(output, str) else _content(output, where, tokens)
        if isinstance(output, str):
            tokens.add_text(output)
        return f"function_call_output\x1f{text}".encode()
    if kind == "reasoning":
        return None
    raise _invalid(
        f"{where}.type must be message, function_call, function_call_output or reasoning "
        f"(what the simulator reads), got {shown(kind)}"
    )


def _prompt(body: dict[str, Any], token_limit: int) -> tuple[int, bytes, bool]:
    """Tokens, key, and whether the last input item answers a function call."""
    tokens = TokenBudget(token_limit)
    tokens.total = REPLY_PRIMING
    keys: list[bytes] = []
    instructions = body.get("instructions")
    if instructions is not None:
        tokens.total += MESSAGE_OVERHEAD
        tokens.add_text(_text(instructions, "instructions"))
        keys.append(f"system\x1f{instructions}".encode())
    raw = body.get("input")
    if isinstance(raw, str) and raw:
        raw = [{"role": "user", "content": raw}]
    if not isinstance(raw, list) or not raw:
        raise _invalid("input must be a non-empty string or a non-empty list of input items")
    for i, item in enumerate(raw):
        key = _item(item, f"input[{i}]", tokens)
        if key is not None:
            keys.append(key)
    answered = isinstance(raw[-1], dict) and raw[-1].get("type") == "function_call_output"
    return tokens.total, b"\x1e".join(keys), answered


def _number(body: dict[str, Any], name: str, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise _invalid(f"{name} must be a number from 0 to {high:g}, got {shown(value)}", name)


def _max_output_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_output_tokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < _MIN_OUTPUT_TOKENS:
        raise _invalid(
            f"max_output_tokens must be an integer >= {_MIN_OUTPUT_TOKENS}, got {shown(value)}",
            "max_output_tokens",
        )
    return value


def _function_tools(raw: object) -> tuple[ToolSpec, ...]:
    if not isinstance(raw, list):
        raise _invalid("tools must be a list", "tools")
    specs: list[ToolSpec] = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise _invalid(f"tools[{i}] must be an object", "tools")
        if tool.get("type") != "function":
            continue  # hosted tools (web search, files...) are never called by the simulator
        name = check_name(tool.get("name"), f"tools[{i}].name", "tools")
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise _invalid(f"tools[{i}].parameters must be a JSON Schema object", "tools")
        specs.append(tool_spec(name, parameters, tool.get("strict") is True))
    return unique_tools(specs)


def _output(form: object) -> OutputFormat | None:
    form = form or {"type": "text"}
    kind = form.get("type") if isinstance(form, dict) else None
    if not isinstance(form, dict) or kind not in _FORMATS:
        raise _invalid(f"text.format.type must be one of {', '.join(_FORMATS)}", "text.format")
    if kind == "text":
        return None
    if kind == "json_object":
        return OutputFormat("json_object")
    schema = form.get("schema")
    if not isinstance(schema, dict):
        raise _invalid("text.format json_schema needs a 'name' and a 'schema'", "text.format")
    name = check_name(form.get("name"), "text.format.name", "text.format")
    return schema_format(name, schema, form.get("strict") is True, "text.format")


def _choice(value: object, tools: tuple[ToolSpec, ...]) -> str:
    if isinstance(value, dict) and value.get("type") == "function":
        name = value.get("name")
        if name not in {tool.name for tool in tools}:
            raise _invalid(f"tool_choice names {shown(name)}, which is not in tools", "tool_choice")
        return str(name)
    if value not in ("auto", "none", "required"):
        return "auto"  # allowed_tools, hosted tool choices: the simulator decides as for auto
    if value == "required" and not tools:
        raise _invalid("tool_choice 'required' needs at least one function tool", "tool_choice")
    return str(value)


def _names(raw_tools: object, form: object) -> tuple[str, ...]:
    names = ["responses"]
    for tool in raw_tools if isinstance(raw_tools, list) else ():
        name = tool.get("name") if isinstance(tool, dict) else None
        names.append(name if isinstance(name, str) else "")
    name = form.get("name") if isinstance(form, dict) else None
    names.append(name if isinstance(name, str) else "")
    return tuple(names)


def _structured(body: dict[str, Any], after_tool: bool) -> tuple[Structured | None, int]:
    """The function tools, tool choice and text format (None: plain text), as chat's, and
    the prompt tokens the tool definitions cost."""
    raw_tools = body.get("tools") or []
    text = body.get("text")
    form = text.get("format") if isinstance(text, dict) else None
    choice = body.get("tool_choice", "auto")
    if not raw_tools and form is None:
        _choice(choice, ())  # a choice that needs tools is refused
        return None, 0

    def build() -> Definitions:
        tools = _function_tools(raw_tools)
        tokens = definitions_tokens(raw_tools) if tools else 0
        return Definitions(tools, _output(form), tokens)

    param = "tools" if raw_tools else "text.format"
    definitions = cached_definitions(_names(raw_tools, form), raw_tools, form, build, param)
    tools = definitions.tools
    choice = _choice(choice, tools)  # refused if it needs tools that are not there
    if not tools:
        choice = "none"  # a text format alone: its JSON answers
    parallel = body.get("parallel_tool_calls", True)
    if not isinstance(parallel, bool):
        raise _invalid("parallel_tool_calls must be a boolean", "parallel_tool_calls")
    spec = make_structured(tools, choice, parallel, definitions.output, after_tool)
    return spec, definitions.tokens


def parse_responses(raw: bytes, config: SimConfig) -> ResponsesInference:
    """Check a Responses request body and read what its answer is made of; `RequestError`
    if it is bad."""
    body = decode_json(raw)
    model = read_model(body)
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise _invalid(f"stream must be a boolean, got {shown(stream)}", "stream")
    _number(body, "temperature", 2)
    _number(body, "top_p", 1)
    cap = _max_output_tokens(body)
    prompt_tokens, key, answered = _prompt(body, config.context_length)
    structured, tool_tokens = _structured(body, answered)
    echo = {name: value for name, value in body.items() if name in ECHOED}
    inference = ResponsesInference(
        "response",
        model,
        prompt_tokens + tool_tokens,
        key,
        stream,
        max_tokens=cap,
        echo=echo,
    )
    inference.structured = structured
    return inference

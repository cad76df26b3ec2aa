"""``POST /v1/responses`` bodies as the simulator reads them: checked, counted, and their
answer planned (text, structured JSON, or function calls).

``input`` is a string (one user message) or a list of items: messages (``role`` and
``content``, a string or ``input_text`` / ``output_text`` / ``input_image`` / ``input_file``
parts), ``function_call`` and ``function_call_output`` items; ``reasoning`` items are
accepted and cost nothing. Tokens are counted as for chat: 3 per item plus its text (a
function call: its name and arguments; an image or file part: 85), ``instructions`` as one
more message, plus 3 to prime the reply. A string input with ``instructions`` therefore costs
what the same system and user messages cost on chat, and gets the same text.

The answer: with function ``tools`` and ``tool_choice`` other than ``"none"``, function calls
(from the `ToolCaller`), except that under ``"auto"`` a turn ending in a
``function_call_output`` is answered in text, so an agent loop ends. With
``text.format`` ``json_schema`` or ``json_object``, JSON text. Otherwise corpus text, as chat.

    inference = parse_responses(body, config)
    inference.prompt_tokens, inference.calls, inference.json_text
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..openai._responses_encode import ECHOED
from ._body import decode_json
from ._config import SimConfig
from ._function_calls import ToolCaller, simple_tool_calls
from ._protocol import _MESSAGE_OVERHEAD, _REPLY_PRIMING, Inference, _Budget, _model, _shown
from ._request_error import RequestError
from ._tool_input import sample_input

__all__ = ["ResponsesInference", "answer_tokens", "parse_responses", "token_pieces"]

_ROLES = frozenset({"user", "system", "developer", "assistant"})
_MEDIA_TOKENS = 85
_MIN_OUTPUT_TOKENS = 16  # the API refuses a smaller max_output_tokens
_FORMATS = ("text", "json_object", "json_schema")
_PIECE = re.compile(
    r"\s*(?:\w+|[^\w\s])"
)  # one token of the simulator's tokenizer, and the space before it


def _invalid(message: str, param: str = "input") -> RequestError:
    return RequestError(400, message, param=param)


@dataclass(slots=True)
class ResponsesInference(Inference):
    """A parsed Responses request. ``calls`` are the function calls the answer makes
    (name, arguments JSON); ``json_text`` the structured output it gives; neither: text.
    ``pieces`` holds the one-token pieces of each call's arguments, or of the JSON text.
    ``echo`` holds the settings the response object repeats."""

    echo: dict[str, Any] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    json_text: str | None = None
    pieces: list[list[str]] = field(default_factory=list)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{where} must be a string, got {_shown(value)}")
    return value


def _content(content: object, where: str, tokens: _Budget) -> str:
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
            tokens.total += _MEDIA_TOKENS
            source = part.get("image_url") or part.get("file_id") or part.get("filename")
            texts.append(f"{kind}\x1f{source if isinstance(source, str) else ''}")
        else:
            raise _invalid(
                f"{at}.type must be input_text, output_text, refusal, input_image or "
                f"input_file, got {_shown(kind)}"
            )
    return "\n".join(texts)


def _item(item: object, where: str, tokens: _Budget) -> bytes | None:
    """Count one input item; its part of the prompt key (None: it adds nothing)."""
    if not isinstance(item, dict):
        raise _invalid(f"{where} must be an object")
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise _invalid(f"{where}.role must be one of {', '.join(sorted(_ROLES))}")
        tokens.total += _MESSAGE_OVERHEAD
        return f"{role}\x1f{_content(item.get('content'), where, tokens)}".encode()
    if kind == "function_call":
        _text(item.get("call_id"), f"{where}.call_id")
        name = _text(item.get("name"), f"{where}.name")
        arguments = _text(item.get("arguments"), f"{where}.arguments")
        tokens.total += _MESSAGE_OVERHEAD
        tokens.add_text(name)
        tokens.add_text(arguments)
        return f"function_call\x1f{name}\x1f{arguments}".encode()
    if kind == "function_call_output":
        _text(item.get("call_id"), f"{where}.call_id")
        output = item.get("output")
        tokens.total += _MESSAGE_OVERHEAD
        text = output if isinstance(output, str) else _content(output, where, tokens)
        if isinstance(output, str):
            tokens.add_text(output)
        return f"function_call_output\x1f{text}".encode()
    if kind == "reasoning":
        return None
    raise _invalid(
        f"{where}.type must be message, function_call, function_call_output or reasoning "
        f"(what the simulator reads), got {_shown(kind)}"
    )


def _prompt(body: dict[str, Any], token_limit: int) -> tuple[int, bytes, bool]:
    """Tokens, key, and whether the last input item answers a function call."""
    tokens = _Budget(token_limit)
    tokens.total = _REPLY_PRIMING
    keys: list[bytes] = []
    instructions = body.get("instructions")
    if instructions is not None:
        tokens.total += _MESSAGE_OVERHEAD
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
        raise _invalid(f"{name} must be a number from 0 to {high:g}, got {_shown(value)}", name)


def _max_output_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_output_tokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < _MIN_OUTPUT_TOKENS:
        raise _invalid(
            f"max_output_tokens must be an integer >= {_MIN_OUTPUT_TOKENS}, got {_shown(value)}",
            "max_output_tokens",
        )
    return value


def _tools(body: dict[str, Any]) -> tuple[list[dict[str, Any]], object]:
    """The function tools and the tool choice, in the chat shape `ToolCaller` takes."""
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise _invalid("tools must be a list", "tools")
    tools: list[dict[str, Any]] = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise _invalid(f"tools[{i}] must be an object", "tools")
        if tool.get("type") != "function":
            continue  # hosted tools (web search, files...) are never called by the simulator
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise _invalid(f"tools[{i}].name must be a non-empty string", "tools")
        function = {key: tool[key] for key in ("name", "description", "parameters") if key in tool}
        tools.append({"type": "function", "function": function})
    choice = body.get("tool_choice", "auto")
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("name")
        if name not in {tool["function"]["name"] for tool in tools}:
            raise _invalid(
                f"tool_choice names {_shown(name)}, which is not in tools", "tool_choice"
            )
        return tools, {"type": "function", "function": {"name": name}}
    if choice not in ("auto", "none", "required"):
        choice = "auto"  # allowed_tools, hosted tool choices: the simulator decides as for auto
    if choice == "required" and not tools:
        raise _invalid("tool_choice 'required' needs at least one function tool", "tool_choice")
    return tools, choice


def _format(body: dict[str, Any]) -> dict[str, Any]:
    text = body.get("text") or {}
    form = text.get("format") if isinstance(text, dict) else None
    form = form or {"type": "text"}
    if not isinstance(form, dict) or form.get("type") not in _FORMATS:
        raise _invalid(f"text.format.type must be one of {', '.join(_FORMATS)}", "text.format")
    named = isinstance(form.get("name"), str) and isinstance(form.get("schema"), dict)
    if form["type"] == "json_schema" and not named:
        raise _invalid("text.format json_schema needs a 'name' and a 'schema'", "text.format")
    return form


def _seed(config: SimConfig, model: str, key: bytes) -> int:
    digest = hashlib.blake2b(f"{config.seed}\x00{model}\x00".encode() + key, digest_size=8)
    return int.from_bytes(digest.digest(), "little")


def parse_responses(
    raw: bytes, config: SimConfig, tool_caller: ToolCaller = simple_tool_calls
) -> ResponsesInference:
    """Check a Responses request body and plan its answer; `RequestError` if it is bad."""
    body = decode_json(raw)
    model = _model(body)
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise _invalid(f"stream must be a boolean, got {_shown(stream)}", "stream")
    _number(body, "temperature", 2)
    _number(body, "top_p", 1)
    cap = _max_output_tokens(body)
    prompt_tokens, key, answered = _prompt(body, config.context_length)
    tools, choice = _tools(body)
    form = _format(body)
    seed = _seed(config, model, key)
    calls: list[tuple[str, str]] = []
    if tools and not (choice == "auto" and answered):
        calls = tool_caller(tools, choice, seed)
        if body.get("parallel_tool_calls") is False:
            calls = calls[:1]
    json_text = None
    if not calls and form["type"] != "text":
        schema = form.get("schema") if form["type"] == "json_schema" else None
        value = sample_input(schema or {"properties": {"answer": {"type": "string"}}})
        json_text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    echo = {name: body[name] for name in ECHOED if name in body}
    return ResponsesInference(
        "response",
        model,
        prompt_tokens,
        key,
        stream,
        max_tokens=cap,
        echo=echo,
        calls=calls,
        json_text=json_text,
        pieces=[token_pieces(text) for text in ([a for _, a in calls] or [json_text or ""])],
    )


def token_pieces(text: str) -> list[str]:
    """``text`` cut into one-token pieces that join back into it (trailing space goes with
    the last piece)."""
    pieces = _PIECE.findall(text)
    rest = len(text) - sum(map(len, pieces))
    if rest and pieces:
        pieces[-1] += text[-rest:]
    return pieces


def answer_tokens(inference: ResponsesInference, text_tokens: int) -> int:
    """Output tokens of the whole planned answer: the calls' arguments, the JSON text, or
    ``text_tokens`` of corpus text."""
    if inference.calls or inference.json_text is not None:
        return sum(map(len, inference.pieces))
    return text_tokens

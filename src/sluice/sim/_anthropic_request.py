"""Anthropic Messages API requests as the simulator reads them: checked, counted, and the
tool call (if any) decided.

A body becomes a `MessagesRequest` or raises `RequestError` (answered in Anthropic's shape by
the endpoint), whatever it holds; messages name the field the way Anthropic's API does
(``max_tokens: Field required``). Input tokens use the simulator's tokenizer: 3 per message
plus its text (tool inputs and results as their JSON or text, 85 per image or document), the
system prompt, each tool's JSON definition, and 3 to prime the reply.

Tools are read into the values chat's are (`_tools`) and answered by the same rule
(`_tool_calls`): ``tool_choice`` ``auto`` (the default), ``any`` (chat's ``required``), ``tool``
(a named function) or ``none``; several ``tool_use`` blocks unless ``disable_parallel_tool_use``;
under ``auto`` a last user turn carrying ``tool_result`` blocks is answered in text. Server
tools (a ``type`` other than ``custom``) are accepted and never called.

    request = parse_messages(b'{"model": "m", "max_tokens": 9, "messages": '
                             b'[{"role": "user", "content": "hi"}]}')
    request.input_tokens        # 3 + 1 + 3 = 7
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ._body import decode_json
from ._content import MEDIA_TOKENS, MESSAGE_OVERHEAD, REPLY_PRIMING, TokenBudget, count_tokens
from ._request_error import RequestError
from ._tools import (
    Definitions,
    Structured,
    ToolSpec,
    cached_definitions,
    make_structured,
    tool_spec,
)

__all__ = ["MessagesRequest", "parse_messages"]

_ROLES = ("user", "assistant")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_CHOICES = ("auto", "any", "tool", "none")
_MAX_STOP_SEQUENCES = 1024


@dataclass(slots=True)
class MessagesRequest:
    """One parsed request; ``input_tokens`` is exact up to the token limit parsing was given."""

    model: str
    max_tokens: int
    input_tokens: int
    prompt_key: bytes
    stream: bool = False
    stop_sequences: tuple[str, ...] = ()
    structured: Structured | None = None


def _invalid(path: str, problem: str) -> RequestError:
    return RequestError(400, f"{path}: {problem}", param=path.split(".")[0])


def _text_of(block: dict[str, Any], path: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise _invalid(f"{path}.text", "Input should be a valid string")
    return text


def _blocks(
    content: object, path: str, tokens: TokenBudget
) -> tuple[list[str], set[str], set[str]]:
    """Count a message's content: its texts, its tool_use ids, the tool_use ids it answers."""
    if isinstance(content, str):
        tokens.add_text(content)
        return [content], set(), set()
    if not isinstance(content, list):
        raise _invalid(path, "Input should be a valid string or a list of content blocks")
    texts: list[str] = []
    uses: set[str] = set()
    results: set[str] = set()
    for i, block in enumerate(content):
        where = f"{path}.{i}"
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(block, dict) or not isinstance(kind, str):
            raise _invalid(where, "each content block must be an object with a string 'type'")
        if kind == "text":
            texts.append(_text_of(block, where))
            tokens.add_text(texts[-1])
        elif kind in ("image", "document"):
            tokens.total += MEDIA_TOKENS
            texts.append(json.dumps(block.get("source"), sort_keys=True, default=str))
        elif kind == "tool_use":
            ident, name = block.get("id"), block.get("name")
            if not isinstance(ident, str) or not isinstance(name, str):
                raise _invalid(where, "a tool_use block needs a string 'id' and 'name'")
            uses.add(ident)
            tokens.add_text(name + json.dumps(block.get("input"), default=str))
        elif kind == "tool_result":
            ident = block.get("tool_use_id")
            if not isinstance(ident, str):
                raise _invalid(f"{where}.tool_use_id", "Field required (a string)")
            results.add(ident)
            inner = block.get("content")
            if inner is not None:
                texts += _blocks(inner, f"{where}.content", tokens)[0]
    return texts, uses, results


def _messages(body: dict[str, Any], tokens: TokenBudget) -> tuple[list[bytes], bool]:
    """Count the messages; their key parts, and whether the last one returns tool results."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages", "Input should be a non-empty list")
    parts: list[bytes] = []
    previous_uses: set[str] = set()
    answered = False
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise _invalid(where, "Input should be an object")
        role = message.get("role")
        if role not in _ROLES:
            raise _invalid(f"{where}.role", "Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise _invalid(f"{where}.content", "Field required")
        tokens.total += MESSAGE_OVERHEAD
        texts, uses, results = _blocks(message["content"], f"{where}.content", tokens)
        unknown = sorted(results - previous_uses)
        if unknown:
            raise _invalid(
                where,
                f"tool_result block(s) for {', '.join(unknown)} with no matching tool_use "
                "block in the previous message: answer a tool_use in the very next user turn",
            )
        previous_uses = uses if role == "assistant" else set()
        answered = bool(results)
        parts.append(f"{role}\x1f{chr(10).join(texts)}".encode())
    return parts, answered


def _system(body: dict[str, Any], tokens: TokenBudget) -> str:
    system = body.get("system")
    if system is None:
        return ""
    if isinstance(system, str):
        tokens.add_text(system)
        return system
    if isinstance(system, list):
        texts = [
            _text_of(b if isinstance(b, dict) else {}, f"system.{i}") for i, b in enumerate(system)
        ]
        for text in texts:
            tokens.add_text(text)
        return "\n".join(texts)
    raise _invalid("system", "Input should be a valid string or a list of text blocks")


def _definitions(tools: list[Any]) -> Definitions:
    """The custom tools (those the simulator may call), checked and compiled, and the tokens
    all the definitions cost (each one's JSON)."""
    specs = []
    tokens = 0
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise _invalid(f"tools.{i}.name", "Field required (a string)")
        tokens += count_tokens(json.dumps(tool, default=str))
        if tool.get("type") not in (None, "custom"):
            continue  # a server tool: run by the provider, never by the simulator
        if not _TOOL_NAME.match(tool["name"]):
            raise _invalid(
                f"tools.{i}.name", "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"
            )
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise _invalid(f"tools.{i}.input_schema", "Field required (a JSON schema object)")
        specs.append(tool_spec(tool["name"], schema, tool.get("strict") is True))
    return Definitions(tuple(specs), None, tokens)


def _tools(body: dict[str, Any], tokens: TokenBudget) -> tuple[ToolSpec, ...]:
    """Count the tools (compiled once per distinct definition); the custom ones."""
    tools = body.get("tools")
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise _invalid("tools", "Input should be a valid list")
    key = ("messages", *(str(t.get("name")) if isinstance(t, dict) else "" for t in tools))
    definitions = cached_definitions(key, tools, None, lambda: _definitions(tools), "tools")
    tokens.total += definitions.tokens
    return definitions.tools


def _structured(
    body: dict[str, Any], tools: tuple[ToolSpec, ...], answered: bool
) -> Structured | None:
    """The choice among the custom tools (None: a text answer)."""
    choice = body.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in _CHOICES:
        raise _invalid("tool_choice.type", f"Input should be one of {', '.join(_CHOICES)}")
    if kind in ("any", "tool") and not tools:
        raise _invalid("tool_choice", f"tool_choice {kind!r} needs at least one custom tool")
    if kind == "none" or not tools:
        return None
    assert isinstance(choice, dict)
    chosen = "required" if kind == "any" else "auto"
    if kind == "tool":
        chosen = choice.get("name")  # type: ignore[assignment]
        if not any(tool.name == chosen for tool in tools):
            raise _invalid("tool_choice.name", f"no tool named {chosen!r} in tools")
    serial = choice.get("disable_parallel_tool_use", False)
    if not isinstance(serial, bool):
        raise _invalid("tool_choice.disable_parallel_tool_use", "Input should be a valid boolean")
    return make_structured(tools, chosen, not serial, None, answered)


def _stop_sequences(body: dict[str, Any]) -> tuple[str, ...]:
    stops = body.get("stop_sequences")
    if stops is None:
        return ()
    if not isinstance(stops, list) or len(stops) > _MAX_STOP_SEQUENCES:
        raise _invalid(
            "stop_sequences", f"Input should be a list of at most {_MAX_STOP_SEQUENCES} strings"
        )
    if not all(isinstance(s, str) and s for s in stops):
        raise _invalid("stop_sequences", "each stop sequence must be a non-empty string")
    return tuple(stops)


def parse_messages(
    raw: bytes, *, token_limit: int | None = None, counting: bool = False
) -> MessagesRequest:
    """Check and summarise a ``/v1/messages`` body (``counting``: a ``count_tokens`` body,
    which has no ``max_tokens``); `RequestError` if it is bad."""
    body = decode_json(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model", "Field required (a non-empty string)")
    max_tokens = body.get("max_tokens", 1 if counting else None)
    if max_tokens is None:
        raise _invalid("max_tokens", "Field required")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _invalid("max_tokens", f"Input should be an integer >= 1, got {max_tokens!r:.60}")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _invalid("stream", "Input should be a valid boolean")
    tokens = TokenBudget(token_limit)
    tokens.total = REPLY_PRIMING
    system = _system(body, tokens)
    parts, answered = _messages(body, tokens)
    tools = _tools(body, tokens)
    return MessagesRequest(
        model=model,
        max_tokens=max_tokens,
        input_tokens=tokens.total,
        prompt_key=b"\x1e".join([f"system\x1f{system}".encode(), *parts]),
        stream=stream,
        stop_sequences=_stop_sequences(body),
        structured=_structured(body, tools, answered),
    )

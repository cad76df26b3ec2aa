"""The tool turns of a conversation, checked as the API checks them: a ``tool`` message must
answer a call of the assistant message before it, and an assistant's calls must all be
answered before the conversation goes on. Calls in the history cost prompt tokens (their
names and arguments, by the simulator's tokenizer).

    tokens, key, after_tool = conversation_tokens(messages)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._content import count_tokens
from ._request_error import invalid

__all__ = ["conversation_tokens"]


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
                raise invalid(
                    f"messages[{i}]: a message with role 'tool' must answer a tool call of the "
                    f"assistant message before it (tool_call_id {call_id!r} is not one)"[:300],
                    "messages",
                )
            del open_calls[call_id]
            continue
        if open_calls:
            raise invalid(
                f"messages[{i}]: an assistant message with 'tool_calls' must be followed by "
                f"tool messages answering each call; {next(iter(open_calls))!r} is unanswered",
                "messages",
            )
        calls = message.get("tool_calls") if role == "assistant" else None
        if not calls:
            continue
        if not isinstance(calls, list):
            raise invalid(f"messages[{i}].tool_calls must be a list", "messages")
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            call_id = call.get("id") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(call_id, str):
                raise invalid(
                    f"messages[{i}].tool_calls: each call needs an 'id' and a 'function' "
                    "with 'name' and 'arguments'",
                    "messages",
                )
            name, arguments = function.get("name"), function.get("arguments")
            if not isinstance(name, str) or not isinstance(arguments, str):
                raise invalid(
                    f"messages[{i}].tool_calls: function 'name' and 'arguments' must be strings",
                    "messages",
                )
            open_calls[call_id] = i
            tokens += count_tokens(name) + count_tokens(arguments)
            key.append(f"{name}\x1f{arguments}".encode())
    last = messages[-1].get("role") if messages else None
    return tokens, b"\x1e".join(key), last in ("tool", "function")

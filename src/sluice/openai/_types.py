"""The values both ends of the OpenAI API speak in: frozen, typed, cheap to build.

A client decodes answers into them; a server (the simulator) reports its limits with them.

    usage = Usage(prompt_tokens=12, completion_tokens=30, total_tokens=42)
    limits = RateLimits(500, 499, 0.12, 90_000, 88_500, 1.0)
    ToolCall(id="call_1", name="lookup", arguments='{"q": "x"}').parsed_arguments()  # {"q": "x"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ChatDelta",
    "Choice",
    "ErrorBody",
    "Model",
    "RateLimits",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the server (``total_tokens`` settles the gate's token budget)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True, slots=True)
class RateLimits:
    """What the server's ``x-ratelimit-*`` headers said: limits per minute, what remains, and
    seconds until each budget is full again. Any of them may be missing (None)."""

    requests_limit: float | None
    requests_remaining: float | None
    requests_reset: float | None
    tokens_limit: float | None
    tokens_remaining: float | None
    tokens_reset: float | None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for; ``arguments`` is the JSON text as sent."""

    id: str | None
    name: str
    arguments: str
    type: str = "function"

    def parsed_arguments(self) -> Any:
        """``arguments`` decoded from JSON (raises ``ValueError`` if the model wrote bad JSON)."""
        return json.loads(self.arguments) if self.arguments else {}


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a streamed tool call: calls are keyed by ``index``; ``id`` and ``name``
    come in the first fragment, ``arguments`` arrives in pieces to concatenate."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True, slots=True)
class Choice:
    """One of the ``n`` answers of a chat completion; ``refusal`` is the model's reason when
    it declined (structured outputs), with ``text`` empty."""

    index: int
    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    reasoning: str | None = None
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class ChatDelta:
    """One streamed event of a chat completion. The last one may carry only ``usage``."""

    text: str
    index: int = 0
    role: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    reasoning: str | None = None
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class Model:
    """An entry of ``GET /models``."""

    id: str
    owned_by: str | None = None
    created: int | None = None


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """The fields of an error answer, ``{"error": {"message", "type", "param", "code"}}``;
    any of them may be missing (a proxy's plain-text error has only a message)."""

    message: str | None
    type: str | None = None
    param: str | None = None
    code: str | None = None

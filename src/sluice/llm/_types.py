"""Results of `sluice.llm` calls: frozen dataclasses, typed, cheap to build.

Times are seconds on the event loop's clock: ``latency`` runs from the call to its result
(waiting in the gate and retries included), ``ttfb`` from sending the request that succeeded to
receiving its response headers.

    result = await client.chat(model="m", messages=msgs)
    result.text, result.usage.total_tokens, result.rate_limits, result.latency
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._stats import GateStatistics

__all__ = [
    "ChatDelta",
    "ChatResult",
    "Choice",
    "ClientStatistics",
    "Embeddings",
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
    """One of the ``n`` answers of a chat completion."""

    index: int
    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    reasoning: str | None = None


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A chat completion. ``text``, ``tool_calls`` and ``finish_reason`` are the first
    choice's; ``choices`` holds all of them (``n > 1``).

        result = await client.chat(model="gpt-4o-mini", messages=[{"role": "user", ...}])
        print(result.text, result.usage.total_tokens if result.usage else "?")
    """

    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    usage: Usage | None
    model: str | None
    id: str | None
    choices: tuple[Choice, ...]
    status: int
    request_id: str | None
    rate_limits: RateLimits | None
    latency: float
    ttfb: float
    headers: Mapping[str, str] = field(repr=False, compare=False)
    raw: Mapping[str, Any] = field(repr=False, compare=False)


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


@dataclass(frozen=True, slots=True)
class Embeddings:
    """Embedding vectors, one per input, in input order; ``usage`` counts prompt tokens.
    For example::

        result = await client.embed(model="text-embedding-3-small", input=["a", "b"])
        first = result.vectors[0]
    """

    vectors: tuple[list[float], ...]
    usage: Usage | None
    model: str | None
    status: int
    request_id: str | None
    rate_limits: RateLimits | None
    latency: float
    ttfb: float
    headers: Mapping[str, str] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Model:
    """An entry of ``GET /models``."""

    id: str
    owned_by: str | None = None
    created: int | None = None


@dataclass(frozen=True, slots=True)
class ClientStatistics:
    """Requests sent, answers by status, the last rate limits the server reported, and the
    gate's own statistics."""

    base_url: str
    requests: int
    responses: Mapping[int, int]
    transport_errors: int
    streams_interrupted: int
    rate_limits: RateLimits | None
    gate: GateStatistics

"""Results of `sluice.llm` calls: frozen dataclasses, typed, cheap to build. The values they
hold (`Usage`, `RateLimits`, `Choice`...) are the protocol's, from `sluice.openai`.

Times are seconds on the event loop's clock: ``latency`` runs from the call to its result
(waiting in the gate and retries included), ``ttfb`` from sending the request that succeeded to
receiving its response headers.

    result = await client.chat(model="m", messages=msgs)
    result.text, result.usage.total_tokens, result.rate_limits, result.latency
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import GateStatistics
from ..openai import Choice, RateLimits, ToolCall, Usage
from ._structured import content_json

__all__ = ["ChatResult", "ClientStatistics", "Embeddings", "RawResult"]


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A chat completion. ``text``, ``tool_calls``, ``finish_reason`` and ``refusal`` are
    the first choice's; ``choices`` holds all of them (``n > 1``); ``raw`` is the decoded
    body as sent. Tool calls carry their arguments as JSON text (``call.parsed_arguments()``
    decodes them); `json` decodes structured content.

        result = await client.chat(model="gpt-4o-mini", messages=[{"role": "user", ...}])
        print(result.text, result.usage.total_tokens if result.usage else "?")
        calls = {call.name: call.parsed_arguments() for call in result.tool_calls}
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
    refusal: str | None = None

    def json(self) -> Any:
        """The content decoded from JSON (what ``response_format`` asks for); ValueError
        naming the reason when there is none (a refusal, an answer cut off by
        ``max_tokens``, text that is not JSON). Validate it with your own model:
        ``Answer.model_validate(result.json())``."""
        return content_json(self.text, self.finish_reason, self.refusal)


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
class RawResult:
    """The answer to `Client.post`: the decoded JSON body as the server sent it, with its
    status, request id and usage (when the body reports one).

        result = await client.post("completions", {"model": "m", "prompt": "Hi"})
        print(result.status, result.body["choices"][0]["text"])
    """

    status: int
    body: Mapping[str, Any]
    usage: Usage | None
    request_id: str | None
    rate_limits: RateLimits | None
    latency: float
    ttfb: float
    headers: Mapping[str, str] = field(repr=False, compare=False)


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

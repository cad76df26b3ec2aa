"""Results from decoded replies: what `Client.chat` and `Client.embed` return, and what their
fan-out twins return per request.

    reply = await send_json(wire, request, decode_chat)
    result = chat_result(reply, latency=wire.clock() - start)
"""

from __future__ import annotations

from ..openai import Choice, parse_request_id
from ..openai._fast import builder
from ._types import ChatResult, Embeddings
from ._wire import Reply

__all__ = ["chat_result", "embeddings_result"]

# Every call builds one of these: at the cost of a mutable dataclass (see `builder`).
_chat_result = builder(ChatResult)
_embeddings = builder(Embeddings)


def chat_result(reply: Reply, latency: float) -> ChatResult:
    """The `ChatResult` of a chat completion's reply."""
    choices: tuple[Choice, ...] = reply.value
    first = choices[0] if choices else None
    data = reply.data
    return _chat_result(
        text="" if first is None else first.text,
        tool_calls=() if first is None else first.tool_calls,
        finish_reason=None if first is None else first.finish_reason,
        usage=reply.usage,
        model=data.get("model"),
        id=data.get("id"),
        choices=choices,
        status=reply.status,
        request_id=parse_request_id(reply.headers),
        rate_limits=reply.rate_limits,
        latency=latency,
        ttfb=reply.ttfb,
        headers=reply.headers,
        raw=data,
        refusal=None if first is None else first.refusal,
    )


def embeddings_result(reply: Reply, latency: float) -> Embeddings:
    """The `Embeddings` of an embeddings reply."""
    return _embeddings(
        vectors=reply.value,
        usage=reply.usage,
        model=reply.data.get("model"),
        status=reply.status,
        request_id=parse_request_id(reply.headers),
        rate_limits=reply.rate_limits,
        latency=latency,
        ttfb=reply.ttfb,
        headers=reply.headers,
    )

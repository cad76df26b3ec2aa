"""Streamed chat completions: the chunks of one stream, and what they add up to.

The stream runs as one gate attempt (`StreamPump`: retried before the first content, never
after it; the connection closed however the iteration ends); this module reads its events,
``chat.completion.chunk`` objects, into `ChatDelta` values and assembles the answer.

Timings are taken as events arrive from the server, not as the caller consumes them:
``ttft`` from sending the request that succeeded to the first content, ``itl`` the gaps
between content events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from .. import Timeout
from ..openai import (
    MAX_EVENT_SIZE,
    ChatDelta,
    RateLimits,
    ToolCall,
    Usage,
    decode_chunk,
    decode_object,
)
from ._stream_pump import StreamPump
from ._structured import content_json
from ._transport import Request
from ._wire import Wire

__all__ = ["ChatStream"]


class ChatStream:
    """An async iterator of `ChatDelta`; after (or during) iteration it tells what arrived.

        stream = client.stream_chat(model="m", messages=msgs)
        async with stream:
            async for delta in stream:
                print(delta.text, end="", flush=True)
        print(stream.ttft, max(stream.itl), stream.usage.total_tokens)
        stream.tool_calls, stream.refusal, stream.json()   # assembled from the deltas

    A stream is iterated once. ``async with`` (or ``aclose()``) releases its connection at a
    known point when you stop early; otherwise that happens when the iterator is collected.
    """

    def __init__(
        self,
        wire: Wire,
        request: Request,
        tokens: float | Callable[[], float],
        timeout: Timeout | None = None,
        max_event_size: int = MAX_EVENT_SIZE,
    ) -> None:
        self._pump = StreamPump(
            wire,
            request,
            tokens,
            self,
            name="sluice.llm stream",
            timeout=timeout,
            max_event_size=max_event_size,
        )
        self._pieces: list[str] = []
        self._refusal: list[str] = []
        self._calls: dict[int, list[Any]] = {}
        self.usage: Usage | None = None
        self.finish_reason: str | None = None

    # ------------------------------------------------------------------ what arrived
    @property
    def text(self) -> str:
        """The first choice's text received so far."""
        if len(self._pieces) > 1:
            self._pieces[:] = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    @property
    def refusal(self) -> str | None:
        """The first choice's refusal received so far (None when the model did not refuse)."""
        return "".join(self._refusal) if self._refusal else None

    def json(self) -> Any:
        """The text received, decoded from JSON (a ``response_format`` answer); ValueError
        naming why there is none (a refusal, a cut-off answer, text that is not JSON)."""
        return content_json(self.text, self.finish_reason, self.refusal)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The first choice's tool calls, assembled from their fragments."""
        return tuple(
            ToolCall(id=call_id, name=name, arguments="".join(parts))
            for _, (call_id, name, parts) in sorted(self._calls.items())
        )

    @property
    def deltas(self) -> int:
        """Deltas delivered so far."""
        return self._pump.items

    @property
    def itl(self) -> tuple[float, ...]:
        """Gaps between consecutive content events, in seconds."""
        return self._pump.itl

    @property
    def ttft(self) -> float | None:
        return self._pump.ttft

    @property
    def ttfb(self) -> float | None:
        return self._pump.ttfb

    @property
    def latency(self) -> float | None:
        return self._pump.latency

    @property
    def status(self) -> int | None:
        return self._pump.status

    @property
    def request_id(self) -> str | None:
        return self._pump.request_id

    @property
    def rate_limits(self) -> RateLimits | None:
        return self._pump.rate_limits

    @property
    def headers(self) -> Mapping[str, str] | None:
        return self._pump.headers

    # ------------------------------------------------------------------ iteration
    def __aiter__(self) -> AsyncIterator[ChatDelta]:
        return self._pump.iterate("ChatStream")

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the stream and release its connection (idempotent)."""
        await self._pump.aclose()

    # ------------------------------------------------------------------ the pump's reader
    def read(self, data: bytes) -> tuple[Sequence[tuple[ChatDelta, bool]], bool]:
        """One event: its deltas worth delivering (each with whether it is content), and
        whether it ends the stream (``[DONE]``)."""
        if data == b"[DONE]":
            return (), True
        chunk = decode_object(data, "a stream event")
        if chunk.get("error"):
            raise self._pump.failure(chunk)
        out: list[tuple[ChatDelta, bool]] = []
        for delta in decode_chunk(chunk):
            content = bool(delta.text or delta.tool_calls or delta.reasoning or delta.refusal)
            if not content and delta.finish_reason is None and delta.usage is None:
                continue  # the role-only opening event, or an empty keep-alive
            self._record(delta)
            out.append((delta, content))
        return out, False

    def complete(self) -> bool:
        """A stream that ends without ``[DONE]`` is whole once a finish reason came."""
        return self.finish_reason is not None

    def usage_received(self) -> Usage | None:
        return self.usage

    def received(self) -> str:
        return self.text

    def _record(self, delta: ChatDelta) -> None:
        if delta.usage is not None:
            self.usage = delta.usage
        if delta.index != 0:
            return
        if delta.text:
            self._pieces.append(delta.text)
        if delta.refusal:
            self._refusal.append(delta.refusal)
        if delta.finish_reason is not None:
            self.finish_reason = delta.finish_reason
        for part in delta.tool_calls:
            call = self._calls.setdefault(part.index, [None, "", []])
            if part.id:
                call[0] = part.id
            if part.name:
                call[1] += part.name
            call[2].append(part.arguments)

    def __repr__(self) -> str:
        return f"ChatStream({self._pump.url!r}, {self._pump.state}, deltas={self.deltas})"

"""Streamed responses of the Responses API: their events, and the response they end with.

The stream runs as one gate attempt (`StreamPump`, as chat streams do: retried before the
first content, never after it; the connection closed however the iteration ends). It ends
with ``response.completed`` (or ``.incomplete``); one that ends without either fails like a
lost connection, and ``response.failed`` or an ``error`` event raise the error they carry.

Timings are taken as events arrive: ``ttft`` to the first text, refusal or arguments delta,
``itl`` the gaps between deltas.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from .. import Timeout
from ..openai import (
    MAX_EVENT_SIZE,
    TERMINAL_EVENTS,
    FunctionCall,
    RateLimits,
    ResponseEvent,
    ResponseOutput,
    ResponseUsage,
    ShapeError,
    decode_object,
    decode_response,
    decode_response_event,
    decode_response_usage,
)
from ._stream_pump import StreamPump
from ._transport import Request
from ._wire import Wire

__all__ = ["ResponseStream"]

_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
    }
)


class ResponseStream:
    """An async iterator of `ResponseEvent`; what arrived is readable during and after.

        async with client.stream_responses(model="m", input="Hi") as stream:
            async for event in stream:
                if event.type == "response.output_text.delta":
                    print(event.delta, end="")
        print(stream.status, stream.usage, stream.function_calls)

    A stream is iterated once; ``await stream.final()`` runs it to its end and returns the
    whole response.
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
            name="sluice.llm response stream",
            timeout=timeout,
            max_event_size=max_event_size,
        )
        self._pieces: list[str] = []
        self.output: ResponseOutput | None = None
        self.usage: ResponseUsage | None = None
        self.raw: Mapping[str, Any] | None = None

    # ------------------------------------------------------------------ what arrived
    @property
    def text(self) -> str:
        """The output text: the whole response's once it ended, else the deltas so far."""
        if self.output is not None:
            return self.output.text
        if len(self._pieces) > 1:
            self._pieces[:] = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    @property
    def status(self) -> str | None:
        """``completed`` or ``incomplete`` once the stream ended; None before."""
        return None if self.output is None else self.output.status

    @property
    def incomplete_reason(self) -> str | None:
        return None if self.output is None else self.output.incomplete_reason

    @property
    def function_calls(self) -> tuple[FunctionCall, ...]:
        """The function calls of the finished response (empty before its end)."""
        return () if self.output is None else self.output.function_calls

    @property
    def events(self) -> int:
        """Events delivered so far."""
        return self._pump.items

    @property
    def itl(self) -> tuple[float, ...]:
        """Gaps between consecutive deltas, in seconds."""
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
    def http_status(self) -> int | None:
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

    async def final(self) -> ResponseOutput:
        """Iterate what is left and return the finished response."""
        if not self._pump.iterated:
            async for _ in self:
                pass
        if self.output is None:
            raise RuntimeError("the stream has not delivered its last event")
        return self.output

    # ------------------------------------------------------------------ iteration
    def __aiter__(self) -> AsyncIterator[ResponseEvent]:
        return self._pump.iterate("ResponseStream")

    async def __aenter__(self) -> ResponseStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the stream and release its connection (idempotent)."""
        await self._pump.aclose()

    # ------------------------------------------------------------------ the pump's reader
    def read(self, data: bytes) -> tuple[Sequence[tuple[ResponseEvent, bool]], bool]:
        """One event (with whether it is content), and whether it ends the stream."""
        body = decode_object(data, "a stream event")
        event = decode_response_event(body)
        if event.type == "error":
            raise self._pump.failure({"error": body})
        if event.type == "response.failed":
            failed = body.get("response")
            error = failed.get("error") if isinstance(failed, dict) else None
            raise self._pump.failure({"error": error or {"message": "the response failed"}})
        ends = event.type in TERMINAL_EVENTS
        if ends:
            final = body.get("response")
            if not isinstance(final, dict):
                raise ShapeError(f"a {event.type} event has no response")
            self.output, _ = decode_response(final)
            self.usage = decode_response_usage(final.get("usage"))
            self.raw = final
        content = event.type in _DELTAS and bool(event.delta)
        if content and event.type == "response.output_text.delta":
            self._pieces.append(event.delta)
        return ((event, content),), ends

    def complete(self) -> bool:
        """A stream that ends without its terminal event is never whole."""
        return False

    def usage_received(self) -> ResponseUsage | None:
        return self.usage

    def received(self) -> str:
        return self.text

    def __repr__(self) -> str:
        state = "done" if self.output else self._pump.state
        return f"ResponseStream({self._pump.url!r}, {state}, events={self.events})"

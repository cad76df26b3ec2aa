"""Streamed responses of the Responses API: one gate attempt per try, as for chat streams.

The stream is one call through the gate: its permit is held until the last event, failures
before the first content are retried by the gate, and after it a failure raises
`StreamInterrupted` (the caller has seen part of an answer a new attempt would not repeat). A
pump task runs the gate call and hands events to the iterating code through a bounded queue;
leaving the iteration early cancels it, which closes the connection. The stream ends with
``response.completed`` (or ``.incomplete``); one that ends without either fails like a lost
connection, and ``response.failed`` or an ``error`` event raise the error they carry.

Timings are taken as events arrive: ``ttft`` to the first text or arguments delta, ``itl``
the gaps between deltas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import Timeout, time_remaining
from ..openai import (
    TERMINAL_EVENTS,
    FunctionCall,
    RateLimits,
    ResponseEvent,
    ResponseOutput,
    ResponseUsage,
    ServerSentEvent,
    ShapeError,
    SSEDecoder,
    decode_object,
    decode_response,
    decode_response_event,
    decode_response_usage,
    parse_request_id,
)
from ._errors import (
    APIConnectionError,
    ResponseTooLargeError,
    StreamInterrupted,
    error_in_body,
    malformed,
    redact,
)
from ._loops import ForwardedIterator
from ._transport import Request
from ._wire import Wire

__all__ = ["ResponseStream"]

logger = logging.getLogger("sluice.llm")

_BUFFER = 1024  # events the pump may run ahead of the caller before it waits
_STOP_WAIT = 10.0  # seconds to wait for a cancelled pump to finish closing its connection
_DELTAS = frozenset({"response.output_text.delta", "response.function_call_arguments.delta"})
_END = object()  # put on the queue once the pump is done


@dataclass(slots=True)
class _Summary:
    """What the gate sees of a finished stream: its usage, to settle the token budget."""

    usage: ResponseUsage | None


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
        max_event_size: int = 16 * 1024 * 1024,
    ) -> None:
        self._wire = wire
        self._request = request
        self._tokens = tokens
        self._timeout = timeout
        self._max_event_size = max_event_size
        self._queue: asyncio.Queue[object] = asyncio.Queue(_BUFFER)
        self._error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._iterated = False
        self._stopping = False
        self._pieces: list[str] = []
        self._gaps: list[float] = []
        self._last = 0.0
        self._content = 0
        self.events = 0
        self.output: ResponseOutput | None = None
        self.usage: ResponseUsage | None = None
        self.raw: Mapping[str, Any] | None = None
        self.ttft: float | None = None
        self.ttfb: float | None = None
        self.latency: float | None = None
        self.http_status: int | None = None
        self.request_id: str | None = None
        self.rate_limits: RateLimits | None = None
        self.headers: Mapping[str, str] | None = None

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
    def itl(self) -> tuple[float, ...]:
        """Gaps between consecutive deltas, in seconds."""
        return tuple(self._gaps)

    async def final(self) -> ResponseOutput:
        """Iterate what is left and return the finished response."""
        if not self._iterated:
            async for _ in self:
                pass
        if self.output is None:
            raise RuntimeError("the stream has not delivered its last event")
        return self.output

    # ------------------------------------------------------------------ iteration
    def __aiter__(self) -> AsyncIterator[ResponseEvent]:
        if self._iterated:
            raise RuntimeError("a ResponseStream can be iterated only once")
        self._iterated = True
        wire = self._wire
        if wire.enter():
            return self._events()
        assert wire.loop is not None  # set by enter()
        return ForwardedIterator(self._events(), wire.loop)

    async def __aenter__(self) -> ResponseStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the stream and release its connection (idempotent)."""
        self._iterated = True
        task = self._task
        if task is None or task.done():
            return
        if task.get_loop() is not asyncio.get_running_loop():
            await self._wire.forward(self.aclose())
            return
        self._stopping = True
        task.cancel()
        done, _ = await asyncio.wait((task,), timeout=_STOP_WAIT)
        if not done:  # pragma: no cover - a transport that ignores cancellation
            logger.warning("a cancelled stream from %s did not stop", self._wire.display_url)

    async def _events(self) -> AsyncIterator[ResponseEvent]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        self._task = loop.create_task(self._pump(), name="sluice.llm response stream")
        try:
            while (item := await self._queue.get()) is not _END:
                assert isinstance(item, ResponseEvent)
                yield item
        finally:
            await self.aclose()
        self.latency = loop.time() - start
        error = self._error
        if error is not None:
            if self._content and not isinstance(error, StreamInterrupted):
                raise self._interrupted(error) from error
            raise error

    async def _pump(self) -> None:
        gate = self._wire.gate
        try:
            if self._timeout is None:
                await gate.run(self._attempt, tokens=self._tokens)
            else:
                await gate.options(timeout=self._timeout, tokens=self._tokens).run(self._attempt)
        except asyncio.CancelledError:
            # Cancelled by aclose(), whose caller is not waiting for events; were it anyone
            # else, a full queue still ends with what it holds and the error below.
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(_END)
            raise
        except BaseException as exc:  # handed to the iterating task, which raises it
            self._error = exc
        await self._queue.put(_END)

    async def _attempt(self) -> _Summary:
        """One try of the stream (what the gate runs)."""
        if self._delivered():
            # The gate retried a failure after content was delivered (one retryable by its
            # own account): end here instead.
            raise self._interrupted(None, "a retry was due after content was delivered")
        wire, request = self._wire, self._request
        opened = await wire.open(request)
        response = opened.response
        self.http_status, self.headers = response.status, response.headers
        self.request_id = parse_request_id(response.headers)
        self.rate_limits = opened.rate_limits
        self.ttfb = opened.received - opened.sent
        decoder = SSEDecoder(self._max_event_size)
        chunks = response.iter_bytes()
        try:
            finished = False
            async for chunk in chunks:
                finished = await self._feed(decoder.feed(chunk), opened.sent)
                if finished:
                    break
            if not finished:
                finished = await self._feed(decoder.flush(), opened.sent)
            if not finished:
                raise APIConnectionError(
                    f"{request.method} {request.url}: the stream ended before its last event"
                )
        except asyncio.CancelledError:
            if self._delivered() and not self._stopping and time_remaining() != 0.0:
                # The gate's attempt timer cut the stream after content went out: the
                # attempt's outcome, never retried (as for chat streams).
                raise self._interrupted(None, "the attempt timed out") from None
            raise
        except Exception as exc:
            error = wire.translate(exc, request)
            if isinstance(error, ValueError):  # an event larger than max_event_size
                error = ResponseTooLargeError(
                    f"HTTP {response.status} from {request.url}: {error}",
                    status=response.status,
                    message=str(error),
                )
            if self._delivered():
                raise self._interrupted(error) from error
            if error is exc:
                raise
            raise error from exc
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:  # an async generator left before its end
                await close()
            await response.aclose()
        return _Summary(self.usage)

    async def _feed(self, events: list[ServerSentEvent], sent: float) -> bool:
        """Handle events; True once the last one arrived."""
        for event in events:
            if await self._event(event, sent):
                return True
        return False

    def _decode(self, data: bytes) -> ResponseEvent:
        try:
            body = decode_object(data, "a stream event")
            event = decode_response_event(body)
            if event.type == "error":
                raise self._failure({"error": body})
            if event.type == "response.failed":
                failed = body.get("response")
                error = failed.get("error") if isinstance(failed, dict) else None
                raise self._failure({"error": error or {"message": "the response failed"}})
            if event.type in TERMINAL_EVENTS:
                final = body.get("response")
                if not isinstance(final, dict):
                    raise ShapeError(f"a {event.type} event has no response")
                self.output, _ = decode_response(final)
                self.usage = decode_response_usage(final.get("usage"))
                self.raw = final
        except ValueError as exc:
            reason = str(exc) if isinstance(exc, ShapeError) else "a stream event is not JSON"
            raise malformed(
                reason,
                status=self.http_status or 200,
                body=data,
                url=self._request.url,
                headers=self.headers or {},
                secrets=self._wire.secrets_for(self._request),
            ) from exc
        return event

    def _failure(self, body: Mapping[str, Any]) -> Exception:
        secrets = self._wire.secrets_for(self._request)
        return error_in_body(body, self.headers or {}, self._request.url, secrets)

    async def _event(self, sse: ServerSentEvent, sent: float) -> bool:
        """Handle one event; True when it ends the stream."""
        event = self._decode(sse.data)
        if event.type in _DELTAS and event.delta:
            now = asyncio.get_running_loop().time()
            if self._content == 0:
                self.ttft = now - sent
            else:
                self._gaps.append(now - self._last)
            self._last = now
            self._content += 1
            if event.type == "response.output_text.delta":
                self._pieces.append(event.delta)
        self.events += 1
        await self._queue.put(event)
        return event.type in TERMINAL_EVENTS

    def _delivered(self) -> bool:
        """Whether a delta has been handed to the caller (from then on, no retry)."""
        return self._content > 0

    def _interrupted(self, cause: BaseException | None, why: str = "") -> StreamInterrupted:
        self._wire.interrupted += 1
        secrets = self._wire.secrets_for(self._request)
        reason = redact(str(cause), secrets) if cause is not None else why
        text = self.text
        return StreamInterrupted(
            f"the stream from {self._request.url} failed after {self._content} delta(s) "
            f"({len(text)} characters) had been delivered, so it is not retried: "
            f"{reason or 'unknown cause'}",
            received=text,
            deltas=self.events,
            status=self.http_status,
            request_id=self.request_id,
        )

    def __repr__(self) -> str:
        state = "done" if self.output else "running" if self._task else "not started"
        return f"ResponseStream({self._request.url!r}, {state}, events={self.events})"

"""Streamed chat completions: the whole stream runs inside one gate attempt.

A stream holds its concurrency permit until the server's last byte, so a pump task runs the
gate call and hands deltas to the iterating code through a small bounded buffer. Before the
first delta with content, failures are retried by the gate like any call; after it, a failure
raises `StreamInterrupted` and is never retried (the caller has already seen part of an
answer a new attempt would not repeat). That includes the attempt's time running out
mid-stream: the stream ends there, without a backoff or a retry. Leaving the iteration early
(``break``, cancellation, an exception) cancels the pump, which closes the connection.

Timings are taken as events arrive from the server, not as the caller consumes them:
``ttft`` from sending the request that succeeded to the first content, ``itl`` the gaps
between content events.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import Timeout, time_remaining
from ..openai import (
    ChatDelta,
    RateLimits,
    ServerSentEvent,
    ShapeError,
    SSEDecoder,
    ToolCall,
    Usage,
    decode_chunk,
    decode_object,
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
from ._structured import content_json
from ._transport import Request
from ._wire import Wire

__all__ = ["ChatStream"]

logger = logging.getLogger("sluice.llm")

_BUFFER = 1024  # deltas the pump may run ahead of the caller before it waits
_STOP_WAIT = 10.0  # seconds to wait for a cancelled pump to finish closing its connection


@dataclass(slots=True)
class _Summary:
    """What the gate sees of a finished stream: its usage, to settle the token budget."""

    usage: Usage | None


class _Pipe:
    """A bounded single-producer, single-consumer buffer that also carries the outcome."""

    __slots__ = ("_getter", "_items", "_putter", "done", "error")

    def __init__(self) -> None:
        self._items: deque[ChatDelta] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._putter: asyncio.Future[None] | None = None
        self.done = False
        self.error: BaseException | None = None

    async def put(self, item: ChatDelta) -> None:
        while len(self._items) >= _BUFFER:
            self._putter = asyncio.get_running_loop().create_future()
            await self._putter
        self._items.append(item)
        _wake(self._getter)

    def finish(self, error: BaseException | None) -> None:
        self.done, self.error = True, error
        _wake(self._getter)

    async def get(self) -> ChatDelta | None:
        """The next delta, or None once the stream has ended (see ``error``)."""
        while not self._items:
            if self.done:
                return None
            self._getter = asyncio.get_running_loop().create_future()
            await self._getter
        item = self._items.popleft()
        _wake(self._putter)
        return item


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


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
        max_event_size: int = 16 * 1024 * 1024,
    ) -> None:
        self._wire = wire
        self._request = request
        self._tokens = tokens
        self._timeout = timeout
        self._max_event_size = max_event_size
        self._pipe = _Pipe()
        self._task: asyncio.Task[None] | None = None
        self._iterated = False
        self._stopping = False  # aclose() cancels the pump: a cancellation that is not a timeout
        self._pieces: list[str] = []
        self._refusal: list[str] = []
        self._calls: dict[int, list[Any]] = {}
        self._gaps: list[float] = []
        self._last = 0.0
        self._content = 0
        self.deltas = 0
        self.ttft: float | None = None
        self.ttfb: float | None = None
        self.latency: float | None = None
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.status: int | None = None
        self.request_id: str | None = None
        self.rate_limits: RateLimits | None = None
        self.headers: Mapping[str, str] | None = None

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
    def itl(self) -> tuple[float, ...]:
        """Gaps between consecutive content events, in seconds."""
        return tuple(self._gaps)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The first choice's tool calls, assembled from their fragments."""
        return tuple(
            ToolCall(id=call_id, name=name, arguments="".join(parts))
            for _, (call_id, name, parts) in sorted(self._calls.items())
        )

    # ------------------------------------------------------------------ iteration
    def __aiter__(self) -> AsyncIterator[ChatDelta]:
        if self._iterated:
            raise RuntimeError("a ChatStream can be iterated only once")
        self._iterated = True
        wire = self._wire
        if wire.enter():
            return self._deltas()
        assert wire.loop is not None  # set by enter()
        return ForwardedIterator(self._deltas(), wire.loop)  # it runs on the owning loop

    async def __aenter__(self) -> ChatStream:
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
        if not task.done():
            self._stopping = True
            task.cancel()
            done, _ = await asyncio.wait((task,), timeout=_STOP_WAIT)
            if not done:  # pragma: no cover - a transport that ignores cancellation
                logger.warning("a cancelled stream from %s did not stop", self._wire.display_url)

    async def _deltas(self) -> AsyncIterator[ChatDelta]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        self._task = loop.create_task(self._pump(), name="sluice.llm stream")
        pipe = self._pipe
        try:
            while (delta := await pipe.get()) is not None:
                yield delta
        finally:
            await self.aclose()
        self.latency = loop.time() - start
        error = pipe.error
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
            self._pipe.finish(None)
            raise
        except BaseException as exc:  # handed to the iterating task, which raises it
            self._pipe.finish(exc)
        else:
            self._pipe.finish(None)

    async def _attempt(self) -> _Summary:
        """One try of the stream (what the gate runs)."""
        if self._delivered():
            # The gate retried a failure after content was delivered (one that is retryable
            # by its own account): end here instead.
            raise self._interrupted(None, "a retry was due after content was delivered")
        wire = self._wire
        request = self._request
        opened = await wire.open(request)
        response = opened.response
        self.status, self.headers = response.status, response.headers
        self.request_id = parse_request_id(response.headers)
        self.rate_limits = opened.rate_limits
        self.ttfb = opened.received - opened.sent
        decoder = SSEDecoder(self._max_event_size)
        finished = False
        chunks = response.iter_bytes()
        try:
            async for chunk in chunks:
                for event in decoder.feed(chunk):
                    if await self._event(event, opened.sent):
                        finished = True
                        break
                if finished:
                    break
            if not finished:
                for event in decoder.flush():
                    if await self._event(event, opened.sent):
                        finished = True
                        break
            if not finished and self.finish_reason is None:
                raise APIConnectionError(
                    f"{request.method} {request.url}: the stream ended before its last event"
                )
        except asyncio.CancelledError:
            if self._delivered() and not self._stopping and time_remaining() != 0.0:
                # The gate's attempt timer cut the stream after content went out (not the
                # caller, nor the deadline: that one ends the call anyway). Anything raised
                # but CancelledError is the attempt's outcome: the gate neither backs off nor
                # spends its retry budget on an attempt that could only fail.
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

    async def _event(self, event: ServerSentEvent, sent: float) -> bool:
        """Handle one event; True when it ends the stream."""
        data = event.data
        if data == b"[DONE]":
            return True
        try:
            chunk = decode_object(data, "a stream event")
            if chunk.get("error"):
                secrets = self._wire.secrets_for(self._request)
                raise error_in_body(chunk, self.headers or {}, self._request.url, secrets)
            deltas = decode_chunk(chunk)
        except ValueError as exc:
            reason = str(exc) if isinstance(exc, ShapeError) else "a stream event is not JSON"
            raise malformed(
                reason,
                status=self.status or 200,
                body=data,
                url=self._request.url,
                headers=self.headers or {},
                secrets=self._wire.secrets_for(self._request),
            ) from exc
        for delta in deltas:
            if delta.text or delta.tool_calls or delta.reasoning or delta.refusal:
                now = asyncio.get_running_loop().time()
                if self._content == 0:
                    self.ttft = now - sent
                else:
                    self._gaps.append(now - self._last)
                self._last = now
                self._content += 1
            elif delta.finish_reason is None and delta.usage is None:
                continue  # the role-only opening event, or an empty keep-alive
            self._record(delta)
            await self._pipe.put(delta)
        return False

    def _delivered(self) -> bool:
        """Whether content has been handed to the caller (from then on, no retry)."""
        return self._content > 0

    def _record(self, delta: ChatDelta) -> None:
        self.deltas += 1
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

    def _interrupted(self, cause: BaseException | None, why: str = "") -> StreamInterrupted:
        self._wire.interrupted += 1
        secrets = self._wire.secrets_for(self._request)
        reason = redact(str(cause), secrets) if cause is not None else why
        text = self.text
        return StreamInterrupted(
            f"the stream from {self._request.url} failed after {self._content} content "
            f"event(s) ({len(text)} characters) had been delivered, so it is not retried: "
            f"{reason or 'unknown cause'}",
            received=text,
            deltas=self.deltas,
            status=self.status,
            request_id=self.request_id,
        )

    def __repr__(self) -> str:
        state = "done" if self._pipe.done else "running" if self._task else "not started"
        return f"ChatStream({self._request.url!r}, {state}, deltas={self.deltas})"

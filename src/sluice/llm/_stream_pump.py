"""What every streamed call shares, whatever the API's events: the whole stream runs inside
one gate attempt, fed to the iterating code by a pump task.

A stream holds its concurrency permit until the server's last byte, so a pump task runs the
gate call and hands items to the iterating code through a small bounded buffer. Before the
first content item, failures are retried by the gate like any call; after it, a failure
raises `StreamInterrupted` and is never retried (the caller has already seen part of an
answer a new attempt would not repeat). That includes the attempt's time running out
mid-stream: the stream ends there, without a backoff or a retry. Leaving the iteration early
(``break``, cancellation, an exception) cancels the pump, which closes the connection.

Timings are taken as events arrive from the server, not as the caller consumes them:
``ttft`` from sending the request that succeeded to the first content, ``itl`` the gaps
between content events. What an event means is the `EventReader`'s business (chat chunks,
Responses events).

    pump = StreamPump(wire, request, tokens, reader, name="sluice.llm stream")
    async for item in pump.iterate():
        ...
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from .. import Timeout, time_remaining
from ..openai import MAX_EVENT_SIZE, RateLimits, ShapeError, SSEDecoder, parse_request_id
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

__all__ = ["EventReader", "StreamPump"]

logger = logging.getLogger("sluice.llm")

_BUFFER = 1024  # items the pump may run ahead of the caller before it waits
_STOP_WAIT = 10.0  # seconds to wait for a cancelled pump to finish closing its connection

Item = TypeVar("Item")
Read_co = TypeVar("Read_co", covariant=True)


class EventReader(Protocol[Read_co]):
    """What one API's stream events mean."""

    def read(self, data: bytes) -> tuple[Sequence[tuple[Read_co, bool]], bool]:
        """One event's data: the items it carries, each with whether it is content (timed;
        past the first, no retry), and whether it ends the stream. ValueError: the event is
        not what the API sends."""
        ...

    def complete(self) -> bool:
        """Whether a stream that ended without its last event is whole anyway."""
        ...

    def usage_received(self) -> Any:
        """The usage received (what the gate settles its token budget with), or None."""
        ...

    def received(self) -> str:
        """The text received so far (what an interruption reports)."""
        ...


@dataclass(slots=True)
class _Summary:
    """What the gate sees of a finished stream: its usage, to settle the token budget."""

    usage: Any


class _Pipe(Generic[Item]):
    """A bounded single-producer, single-consumer buffer that also carries the outcome."""

    __slots__ = ("_getter", "_items", "_putter", "done", "error")

    def __init__(self) -> None:
        self._items: deque[Item] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._putter: asyncio.Future[None] | None = None
        self.done = False
        self.error: BaseException | None = None

    async def put(self, item: Item) -> None:
        while len(self._items) >= _BUFFER:
            self._putter = asyncio.get_running_loop().create_future()
            await self._putter
        self._items.append(item)
        _wake(self._getter)

    def finish(self, error: BaseException | None) -> None:
        self.done, self.error = True, error
        _wake(self._getter)

    async def get(self) -> tuple[Item] | None:
        """The next item (in a tuple), or None once the stream has ended (see ``error``)."""
        while not self._items:
            if self.done:
                return None
            self._getter = asyncio.get_running_loop().create_future()
            await self._getter
        item = self._items.popleft()
        _wake(self._putter)
        return (item,)


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


class StreamPump(Generic[Item]):
    """One streamed call through the gate: iterate it once with `iterate`, stop it with
    `aclose`; its timings and the HTTP answer's figures are readable during and after."""

    def __init__(
        self,
        wire: Wire,
        request: Request,
        tokens: float | Callable[[], float],
        reader: EventReader[Item],
        *,
        name: str,
        timeout: Timeout | None = None,
        max_event_size: int = MAX_EVENT_SIZE,
    ) -> None:
        self._wire = wire
        self._request = request
        self._tokens = tokens
        self._reader = reader
        self._name = name
        self._timeout = timeout
        self._max_event_size = max_event_size
        self._pipe: _Pipe[Item] = _Pipe()
        self._task: asyncio.Task[None] | None = None
        self._iterated = False
        self._stopping = False  # aclose() cancels the pump: a cancellation that is not a timeout
        self._gaps: list[float] = []
        self._last = 0.0
        self.content = 0
        self.items = 0
        self.ttft: float | None = None
        self.ttfb: float | None = None
        self.latency: float | None = None
        self.status: int | None = None
        self.request_id: str | None = None
        self.rate_limits: RateLimits | None = None
        self.headers: Mapping[str, str] | None = None

    @property
    def url(self) -> str:
        return self._request.url

    @property
    def itl(self) -> tuple[float, ...]:
        """Gaps between consecutive content events, in seconds."""
        return tuple(self._gaps)

    @property
    def state(self) -> str:
        return "done" if self._pipe.done else "running" if self._task else "not started"

    def failure(self, body: Mapping[str, Any]) -> Exception:
        """The error an error event's ``body`` carries, as the client raises it."""
        secrets = self._wire.secrets_for(self._request)
        return error_in_body(body, self.headers or {}, self._request.url, secrets)

    # ------------------------------------------------------------------ iteration
    def iterate(self, kind: str) -> AsyncIterator[Item]:
        """The items, once (``kind`` names the stream in the error for a second time)."""
        if self._iterated:
            raise RuntimeError(f"a {kind} can be iterated only once")
        self._iterated = True
        wire = self._wire
        if wire.enter():
            return self._items()
        assert wire.loop is not None  # set by enter()
        return ForwardedIterator(self._items(), wire.loop)  # it runs on the owning loop

    @property
    def iterated(self) -> bool:
        return self._iterated

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

    async def _items(self) -> AsyncIterator[Item]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        self._task = loop.create_task(self._pump(), name=self._name)
        pipe = self._pipe
        try:
            while (got := await pipe.get()) is not None:
                yield got[0]
        finally:
            await self.aclose()
        self.latency = loop.time() - start
        error = pipe.error
        if error is not None:
            if self.content and not isinstance(error, StreamInterrupted):
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
        chunks = response.iter_bytes()
        try:
            finished = False
            async for chunk in chunks:
                if finished := await self._feed(decoder.feed(chunk), opened.sent):
                    break
            if not finished:
                finished = await self._feed(decoder.flush(), opened.sent)
            if not finished and not self._reader.complete():
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
        return _Summary(self._reader.usage_received())

    async def _feed(self, events: Sequence[Any], sent: float) -> bool:
        """Handle decoded server-sent events; True once the last one arrived."""
        for event in events:
            data = event.data
            try:
                items, ends = self._reader.read(data)
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
            for item, content in items:
                if content:
                    now = asyncio.get_running_loop().time()
                    if self.content == 0:
                        self.ttft = now - sent
                    else:
                        self._gaps.append(now - self._last)
                    self._last = now
                    self.content += 1
                self.items += 1
                await self._pipe.put(item)
            if ends:
                return True
        return False

    def _delivered(self) -> bool:
        """Whether content has been handed to the caller (from then on, no retry)."""
        return self.content > 0

    def _interrupted(self, cause: BaseException | None, why: str = "") -> StreamInterrupted:
        self._wire.interrupted += 1
        secrets = self._wire.secrets_for(self._request)
        reason = redact(str(cause), secrets) if cause is not None else why
        text = self._reader.received()
        return StreamInterrupted(
            f"the stream from {self._request.url} failed after {self.content} content "
            f"event(s) ({len(text)} characters) had been delivered, so it is not retried: "
            f"{reason or 'unknown cause'}",
            received=text,
            deltas=self.items,
            status=self.status,
            request_id=self.request_id,
        )

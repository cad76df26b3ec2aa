"""One request on the wire: send it through the transport, feed the server's rate limits to
the gate, and turn what comes back into a decoded reply or an `LLMError`.

This is what a gate attempt runs; the public `Client` builds requests and results around it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from .. import Gate, LoopClock
from .._clock import Reader, reader
from ..openai import RateLimits, ShapeError, Usage, decode_object, parse_rate_limits
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    LLMError,
    error_for_status,
    error_in_body,
    malformed,
    redact_error,
)
from ._loops import forward, stranded_error
from ._settings import secrets_in
from ._transport import Request, Response, Transport

T = TypeVar("T")

__all__ = ["Decoder", "Opened", "Reply", "Wire", "send_json"]


@dataclass(slots=True)
class Opened:
    """A response whose status says success, with when it was sent and answered."""

    response: Response
    sent: float
    received: float
    rate_limits: RateLimits | None


@dataclass(slots=True)
class Reply:
    """A decoded successful answer; ``usage`` is what the gate settles its token budget with."""

    status: int
    headers: Mapping[str, str]
    rate_limits: RateLimits | None
    ttfb: float
    data: Mapping[str, Any]
    value: Any
    usage: Usage | None


class Wire:
    """Sends requests for one client and keeps its counters."""

    __slots__ = (
        "clock",
        "closed",
        "display_url",
        "gate",
        "interrupted",
        "last_limits",
        "loop",
        "requests",
        "responses",
        "secrets",
        "transport",
        "transport_errors",
    )

    def __init__(
        self, transport: Transport, gate: Gate, secrets: tuple[str, ...], display_url: str
    ) -> None:
        self.transport = transport
        self.gate = gate
        self.secrets = secrets
        self.display_url = display_url
        self.loop: asyncio.AbstractEventLoop | None = None
        # The owning loop's clock, once there is one (read as directly as the loop allows):
        # timings are on the loop's time.
        self.clock: Reader = time.monotonic
        self.closed = False
        self.requests = 0
        self.responses: dict[int, int] = {}
        self.transport_errors = 0
        self.interrupted = 0
        self.last_limits: RateLimits | None = None

    def enter(self) -> bool:
        """Whether a call made now runs right here: True on the loop that owns the client
        (the first to use it, or the next once that one has ended), False on another loop
        while the owner runs in its thread (the call is then forwarded there). Refuses a
        closed client, or an owner that is stopped but not ended."""
        if self.closed:
            raise ClientClosedError(f"the client for {self.display_url} is closed")
        loop = asyncio.get_running_loop()
        owner = self.loop
        if owner is loop:
            return True
        if owner is None or owner.is_closed():
            self.loop, self.clock = loop, reader(LoopClock(), loop)
            return True
        if owner.is_running():
            return False
        raise stranded_error(owner)

    async def forward(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop that owns the client; its result, here."""
        assert self.loop is not None  # only a client in use forwards
        return await forward(coroutine, self.loop)

    def secrets_for(self, request: Request) -> tuple[str, ...]:
        """What must never be shown of ``request``: the client's secrets and those of its
        own headers (a key passed in ``extra_headers``). Only failures ask."""
        return (*self.secrets, *(s for s in secrets_in(request.headers) if s))

    async def open(self, request: Request) -> Opened:
        """Send ``request`` and return once its headers say success (streams use this; the
        body is theirs to read). An error status is read and raised as its `LLMError`."""
        loop = asyncio.get_running_loop()
        sent = loop.time()
        self.requests += 1
        try:
            response = await self.transport.send(request)
            received = loop.time()
            limits = self.answered(response)
            if not 200 <= response.status < 300:
                await self.fail(response, request)
        except Exception as exc:
            error = self.translate(exc, request)
            if error is exc:
                raise
            raise error from exc
        return Opened(response, sent, received, limits)

    def answered(self, response: Response) -> RateLimits | None:
        """Count the status and feed the rate-limit headers to the gate."""
        status = response.status
        self.responses[status] = self.responses.get(status, 0) + 1
        return self.observe(response.headers)

    async def fail(self, response: Response, request: Request) -> NoReturn:
        """Read an error response and raise it as its `LLMError`."""
        try:
            body = await response.read()
        finally:
            await response.aclose()
        secrets = self.secrets_for(request)
        raise error_for_status(response.status, response.headers, body, request.url, secrets)

    def translate(self, exc: Exception, request: Request) -> Exception:
        """A transport's exception as an `LLMError` without secrets in its message; unknown
        ones are returned unchanged."""
        if isinstance(exc, LLMError):
            if isinstance(exc, APIConnectionError | APITimeoutError):
                self.transport_errors += 1
            return redact_error(exc, self.secrets_for(request))
        if isinstance(exc, TimeoutError):
            self.transport_errors += 1
            error: LLMError = APITimeoutError(
                f"{request.method} {request.url}: timed out ({exc!r})"
            )
        elif isinstance(exc, OSError):
            self.transport_errors += 1
            error = APIConnectionError(f"{request.method} {request.url}: {exc!r}")
        else:
            return exc
        return redact_error(error, self.secrets_for(request))

    def observe(self, headers: Mapping[str, str]) -> RateLimits | None:
        """Feed the server's ``x-ratelimit-*`` headers to the gate."""
        limits = parse_rate_limits(headers)
        if limits is None:
            return None
        self.last_limits = limits
        self.gate.observe_limits(
            requests_limit=limits.requests_limit,
            requests_remaining=limits.requests_remaining,
            requests_reset=limits.requests_reset,
            tokens_limit=limits.tokens_limit,
            tokens_remaining=limits.tokens_remaining,
            tokens_reset=limits.tokens_reset,
        )
        return limits


Decoder = Callable[[Mapping[str, Any]], tuple[Any, Usage | None]]
"""Turns a decoded JSON body into (the call's value, its usage)."""


async def send_json(wire: Wire, request: Request, decode: Decoder) -> Reply:
    """One attempt of a non-streamed call: the function the gate runs (a plain function,
    not a method: gates recognise those fastest; the steps of `Wire.open` are inlined for
    the same reason)."""
    clock = wire.clock
    sent = clock()
    wire.requests += 1
    try:
        response = await wire.transport.send(request)
        received = clock()
        limits = wire.answered(response)
        if not 200 <= response.status < 300:
            await wire.fail(response, request)
        try:
            body = await response.read()
        finally:
            await response.aclose()
    except Exception as exc:
        error = wire.translate(exc, request)
        if error is exc:
            raise
        raise error from exc
    try:
        data = decode_object(body)
        if data.get("error"):
            secrets = wire.secrets_for(request)
            raise error_in_body(data, response.headers, request.url, secrets)
        value, usage = decode(data)
    except ValueError as exc:  # ShapeError, JSONDecodeError, UnicodeDecodeError
        reason = str(exc) if isinstance(exc, ShapeError) else "the body is not valid JSON"
        raise malformed(
            reason,
            status=response.status,
            body=body,
            url=request.url,
            headers=response.headers,
            secrets=wire.secrets_for(request),
        ) from exc
    return Reply(response.status, response.headers, limits, received - sent, data, value, usage)

"""`Deadlines`: every HTTP request runs under the deadline its client asked for.

The budget comes from a request header (or the default), is clamped to ``max``, and becomes
the sluice deadline of the handler (`sluice._core.deadline.DEADLINE`): every gate the handler
calls, directly or in tasks it starts, fails with `DeadlineExceeded` rather than wait past it.
If the deadline passes before the response has started, the handler is cancelled and the
client gets a 504.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from .._core.deadline import DEADLINE
from .._errors import ConfigError, DeadlineExceeded
from .._validate import check_non_negative, check_optional_positive, check_positive
from ._timeouts import parse_grpc_timeout, parse_seconds
from ._types import ASGIApp, Message, Receive, Scope, Send, respond

__all__ = ["DeadlineStatistics", "Deadlines"]

_INVALID = ("ignore", "reject")
_ONCE_STARTED = ("finish", "cancel")


@dataclass(frozen=True, slots=True)
class DeadlineStatistics:
    """Counts of a `Deadlines` middleware since it was made.

    ``requests`` counts HTTP requests; ``from_header`` those whose budget a header gave,
    ``defaulted`` those that ran on the default budget; ``invalid`` requests with a header
    that could not be used, ``clamped`` those whose header asked for more than ``max``;
    ``timed_out`` requests answered 504, ``cut_short`` handlers cancelled after their
    response had started (``once_started="cancel"``).
    """

    requests: int
    from_header: int
    defaulted: int
    invalid: int
    clamped: int
    timed_out: int
    cut_short: int


class _Exchange:
    """One request under its deadline: whether the response started, whether the deadline
    cancelled the handler."""

    __slots__ = ("cancel_started", "expired", "send_on", "started", "task", "withdrawn")

    def __init__(self, send: Send, task: asyncio.Task[object], cancel_started: bool) -> None:
        self.send_on = send
        self.task = task
        self.cancel_started = cancel_started
        self.started = False
        self.expired = False
        self.withdrawn = False

    def expire(self) -> None:
        if self.started and not self.cancel_started:
            return
        self.expired = True
        self.task.cancel()

    def withdraw(self) -> int:
        """Take back the deadline's cancellation, once; the cancellations still requested."""
        if self.expired and not self.withdrawn:
            self.withdrawn = True
            return self.task.uncancel()
        return self.task.cancelling()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if self.expired:  # a handler that swallowed the cancellation: the 504 stands
                raise asyncio.CancelledError
            self.started = True
        await self.send_on(message)


class Deadlines:
    """ASGI middleware: each HTTP request gets the deadline its client asks for.

    The budget, in seconds, is read from ``header`` (a plain decimal number,
    ``x-request-timeout: 2.5``) or ``grpc_header`` (gRPC units, ``grpc-timeout: 250m``); when
    both are sent the shorter wins, when neither is the request gets ``default`` (``None``:
    no deadline). More than ``max`` is clamped to ``max``. A value that is not a number > 0
    (``-1``, ``nan``, ``inf``, ``2s``) is ignored with ``invalid="ignore"`` (the request runs
    on the default) or answered 400 with ``invalid="reject"``; it never causes a 500.

    The deadline is an absolute time on the event loop's clock, the clock gates use unless
    given another, and is set as the sluice deadline while the handler runs: every gate call
    inside it, and `sluice.time_remaining()`, see it (an earlier enclosing deadline is kept).
    When it passes before ``http.response.start`` was sent, the handler is cancelled and the
    client gets ``504`` with a small JSON body; a `DeadlineExceeded` escaping the handler
    before the response started is answered 504 too. With ``grace`` > 0 the cancellation
    comes that many seconds after the deadline: the gates inside raise `DeadlineExceeded` at
    the deadline, and the handler has ``grace`` seconds to answer on its own (a fallback, a
    partial result) before it is cancelled. Once the response has started its
    status cannot change: ``once_started="finish"`` lets the handler finish (its gate calls
    still fail fast), ``"cancel"`` cancels it, leaving the response incomplete (servers
    close the connection). Other scopes (lifespan, websocket) pass through untouched.

        app = Deadlines(app, default=30.0, max=120.0)
        # curl -H 'x-request-timeout: 2.5' ...  -> gates inside give up after 2.5 s
        app.statistics().timed_out

    Raises `ConfigError` for a value it cannot work with, naming the parameter.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header: str | None = "x-request-timeout",
        grpc_header: str | None = "grpc-timeout",
        default: float | None = None,
        max: float = 300.0,
        invalid: Literal["ignore", "reject"] = "ignore",
        once_started: Literal["finish", "cancel"] = "finish",
        grace: float = 0.0,
    ) -> None:
        owner = "Deadlines"
        if not callable(app):
            raise ConfigError(f"{owner}(app=...) must be an ASGI application, got {app!r}")
        self.app = app
        self._header = _header_name(owner, "header", header)
        self._grpc_header = _header_name(owner, "grpc_header", grpc_header)
        self._max = check_positive(owner, "max", max)
        self._default = check_optional_positive(owner, "default", default)
        if self._default is not None and self._default > self._max:
            raise ConfigError(f"{owner}(default=...) must be <= max ({max!r}), got {default!r}")
        if self._header is None and self._grpc_header is None and self._default is None:
            raise ConfigError(
                f"{owner}(default=...) is required when header and grpc_header are both None"
            )
        if invalid not in _INVALID:
            raise ConfigError(f"{owner}(invalid=...) must be one of {_INVALID}, got {invalid!r}")
        if once_started not in _ONCE_STARTED:
            raise ConfigError(
                f"{owner}(once_started=...) must be one of {_ONCE_STARTED}, got {once_started!r}"
            )
        self._grace = check_non_negative(owner, "grace", grace)
        self._reject = invalid == "reject"
        self._cancel_started = once_started == "cancel"
        self._requests = self._from_header = self._defaulted = 0
        self._invalid = self._clamped = self._timed_out = self._cut_short = 0

    def statistics(self) -> DeadlineStatistics:
        """A snapshot of the counters."""
        return DeadlineStatistics(
            requests=self._requests,
            from_header=self._from_header,
            defaulted=self._defaulted,
            invalid=self._invalid,
            clamped=self._clamped,
            timed_out=self._timed_out,
            cut_short=self._cut_short,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._requests += 1
        budget, bad = self._budget(scope)
        if bad is not None:
            self._invalid += 1
            if self._reject:
                message = f"{bad} must be a number of seconds > 0"
                await respond(send, 400, {"error": "invalid_timeout", "message": message})
                return
        if budget is None:
            budget = self._default
            if budget is None:
                await self.app(scope, receive, send)
                return
            self._defaulted += 1
        else:
            self._from_header += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        outer = DEADLINE.get()
        if outer is not None and outer < deadline:
            deadline = outer
        if deadline <= loop.time():
            await self._time_out(send, budget)
            return
        await self._run(scope, receive, send, loop, deadline, budget)

    def _budget(self, scope: Scope) -> tuple[float | None, str | None]:
        """The budget the headers ask for (clamped), and the name of an invalid one."""
        budget: float | None = None
        bad: str | None = None
        plain, grpc = self._header, self._grpc_header
        seen_plain = seen_grpc = False
        for name, value in scope["headers"]:
            if name == plain and not seen_plain:
                seen_plain = True
                seconds = parse_seconds(value)
            elif name == grpc and not seen_grpc:
                seen_grpc = True
                seconds = parse_grpc_timeout(value)
            else:
                continue
            if seconds is None:
                bad = name.decode("latin-1")
            elif budget is None or seconds < budget:
                budget = seconds
        if budget is not None and budget > self._max:
            self._clamped += 1
            budget = self._max
        return budget, bad

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        loop: asyncio.AbstractEventLoop,
        deadline: float,
        budget: float,
    ) -> None:
        task = asyncio.current_task(loop)
        if task is None:  # pragma: no cover - ASGI servers run each request in a task
            raise RuntimeError("sluice.asgi.Deadlines must run inside an asyncio task")
        exchange = _Exchange(send, task, self._cancel_started)
        timer = loop.call_at(deadline + self._grace, exchange.expire)
        token = DEADLINE.set(deadline)
        timed_out = False
        try:
            await self.app(scope, receive, exchange.send)
        except asyncio.CancelledError:
            if not exchange.expired or exchange.withdraw() > 0:
                raise  # cancelled from outside too (the client left, the server stops)
            timed_out = True
        except DeadlineExceeded:
            if exchange.started:
                raise
            timed_out = True  # a gate inside gave up: the deadline would pass first
        finally:
            timer.cancel()
            DEADLINE.reset(token)
            exchange.withdraw()  # a handler that swallowed the cancellation, or raised
        if exchange.started:
            if exchange.expired:
                self._cut_short += 1
        elif timed_out or exchange.expired:
            await self._time_out(send, budget)

    async def _time_out(self, send: Send, budget: float) -> None:
        self._timed_out += 1
        message = f"the request's deadline of {budget:.3g}s passed"
        await respond(send, 504, {"error": "deadline_exceeded", "message": message})


def _header_name(owner: str, parameter: str, name: object) -> bytes | None:
    if name is None:
        return None
    if not isinstance(name, str) or not name or not name.isascii() or " " in name:
        raise ConfigError(f"{owner}({parameter}=...) must be a header name or None, got {name!r}")
    return name.lower().encode("ascii")

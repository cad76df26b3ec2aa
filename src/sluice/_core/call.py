"""What the kernel carries through its pipeline: one `Call` per `Gate.run`, one `Try` per attempt.

A `Call` holds what the caller passed and what the whole run shares (its deadline, the attempts
made so far, their history). A `Try` is one attempt of it as the stages see it: each stage
writes the fields it owns in `before` and reads them back in `release` and `after`, so no stage
keeps a table of attempts in flight. With hedging, several tries of one call run at once.

    call = Call(fetch, (url,), {}, tokens=None)
    attempt = Try(call, number=1)
    attempt.started = clock.now()          # set by the kernel once every stage said go
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import Token
from typing import Any

from .._executors.kinds import Kind
from ..policies.retry import Attempt
from .usage import UsageBox

__all__ = ["Call", "Try"]


class Call:
    """One `Gate.run`: the function, its arguments, and the state all its attempts share.

    Set by the kernel as the call runs: ``kind`` (where the function runs, see
    `sluice._executors.call_kind`), ``start`` (when the call started), ``deadline`` (absolute,
    on the gate's clock; ``None``: none), ``attempts`` (started so far), ``history`` (the
    failed attempts, reported by retries and deadlines) and ``last_error`` (the latest
    failure, which a deadline names as its cause).
    """

    __slots__ = (
        "args",
        "attempts",
        "deadline",
        "fn",
        "history",
        "kind",
        "kwargs",
        "last_error",
        "start",
        "tokens",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        tokens: float | None,
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.tokens = tokens
        self.start = 0.0  # set by the kernel when the call starts
        self.kind: Kind = None
        self.deadline: float | None = None
        self.attempts = 1
        self.history: list[Attempt] | None = None
        self.last_error: BaseException | None = None


class Try:
    """One attempt of a call.

    Written by the kernel: ``number`` (1-based), ``started`` (when the call was issued, after
    every stage said go; ``None`` while admission runs, and for good if it never was),
    ``error`` (``None`` on success), ``result``, and for a failure that reached the upstream
    ``overloaded`` and ``retry_after`` (the signals any error may carry, read once).

    Written by the stage that owns them: ``ticket`` (breaker generation), ``tokens`` and
    ``usage`` / ``usage_token`` (rate: the reservation and where the call reports its real
    usage), ``permit`` and ``load`` (concurrency: whether a permit is held, and the attempts in
    flight when it was granted, this one included).
    """

    __slots__ = (
        "call",
        "error",
        "load",
        "number",
        "overloaded",
        "permit",
        "result",
        "retry_after",
        "started",
        "ticket",
        "tokens",
        "usage",
        "usage_token",
    )

    def __init__(self, call: Call, number: int) -> None:
        self.call = call
        self.number = number
        self.started: float | None = None
        self.error: BaseException | None = None
        self.result: Any = None
        self.overloaded = False
        self.retry_after: float | None = None
        self.ticket = 0
        self.tokens = 0.0
        self.usage: UsageBox | None = None
        self.usage_token: Token[UsageBox | None] | None = None
        self.permit = False
        self.load = 0

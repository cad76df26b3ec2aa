"""The record the kernel carries through its pipeline: one `Call` per `Gate.run`.

A call holds what the caller passed, what all its attempts share (the deadline, the attempts
made so far, their history), and the attempt in progress as the stages see it: each stage
writes the fields it owns in ``before`` and reads them back in ``free`` and ``after``, so
no stage keeps a table of attempts in flight. Attempts of one call run one after another and
reuse the record; a hedged attempt that runs beside another gets a `branch` of its own.

One record per call, not one per attempt: allocating is most of what a per-call record costs,
and the gate's hot path is measured against a bare `asyncio.Semaphore`.

    call = Call(fetch, (url,), {}, tokens=None)
    call.started = clock.now()          # set by the kernel once every stage said go
    extra = call.branch()               # a hedged attempt's own record
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import Token
from typing import Any

from .._classify import ErrorInfo
from .._executors.kinds import Kind
from ..policies.retry import Attempt
from ..policies.timeout import Timeout
from .timers import Expiry
from .usage import UsageBox

__all__ = ["Call"]


class Call:
    """One `Gate.run`, and its attempt in progress.

    ``timeout``, when set, replaces the gate's `Timeout` for this call (see `Gate.options`).

    Of the call, set by the kernel: ``kind`` (where the function runs, see
    `sluice._executors.call_kind`), ``start``, ``deadline`` (absolute, on the gate's clock;
    ``None``: none), ``attempts`` (started so far), ``history`` (the failed attempts, reported
    by retries and deadlines), ``last_error`` (the latest failure, which a deadline names as
    its cause) and ``expiry`` (the deadline's timer, armed only once something may outlast
    it).

    Of the attempt in progress, set by the kernel: ``began`` (when it began, before the
    stages admitted it), ``started`` (when the call was issued,
    after every stage said go; ``None`` while admission runs, and for good if it never was),
    ``error`` (``None`` on success), ``result``, and for a failure ``info`` (its
    classification, made once: see `sluice.classify_error`; stages read its
    ``overloaded``, ``retry_after`` and ``status``). Set by the stage that owns
    them: ``ticket`` (breaker generation), ``reserved``, ``usage`` and ``usage_token`` (rate:
    the tokens booked, and where the call reports what it really used), ``permit``,
    ``lease``, ``lender`` and ``load`` (concurrency: the limiter whose permit is held, or
    ``None``; the id of a lease on a shared limit; the enclosing call whose permit was lent,
    for a nested call; the attempts in flight when it was granted, this one included).
    ``outer``: the call this attempt's function runs inside, while it runs (see
    `sluice._core.enclosing`).
    """

    # The attempt's own fields, and ``start`` and ``kind``, are written before they are read:
    # by the kernel when the call and each attempt begin and end, by each stage in `before`.
    start: float
    kind: Kind
    began: float
    started: float | None
    error: BaseException | None
    result: Any
    info: ErrorInfo | None
    ticket: int
    reserved: float
    usage: UsageBox | None
    usage_token: Token[UsageBox | None] | None
    permit: object | None
    lease: str | None
    lender: Call | None
    load: int
    outer: Call | None

    __slots__ = (
        "args",
        "attempts",
        "began",
        "deadline",
        "error",
        "expiry",
        "fn",
        "history",
        "info",
        "kind",
        "kwargs",
        "last_error",
        "lease",
        "lender",
        "load",
        "outer",
        "permit",
        "reserved",
        "result",
        "start",
        "started",
        "ticket",
        "timeout",
        "tokens",
        "usage",
        "usage_token",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        tokens: float | Callable[[], float] | None,
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.tokens = tokens
        self.timeout: Timeout | None = None  # this call's own, in place of the gate's
        self.attempts = 1
        self.deadline: float | None = None
        self.expiry: Expiry | None = None
        self.history: list[Attempt] | None = None
        self.last_error: BaseException | None = None
        self.info: ErrorInfo | None = None  # read only beside an ``error``

    def branch(self) -> Call:
        """A record for another attempt of this call running at the same time (hedging):
        the same function, arguments, deadline and deadline timer; attempt fields of its own."""
        other = Call(self.fn, self.args, self.kwargs, self.tokens)
        other.start = self.start
        other.kind = self.kind
        other.timeout = self.timeout
        other.attempts = self.attempts
        other.began = self.began
        other.deadline = self.deadline
        other.expiry = self.expiry
        return other

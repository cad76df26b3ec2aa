"""The Gate: a named bundle of policies around calls to one kind of upstream.

Policies apply in a fixed order, outermost first::

    total timeout > retry > breaker > rate > concurrency > attempt timeout > the call

so a backoff sleep holds neither a permit nor a rate slot, a rejected call costs nothing
upstream, and the total budget covers everything. Each policy's decisions are made by its own
pure object (`Retry.decide`, `CircuitBreaker.admit/record`, `Gcra`); this module only carries
them out.

    gate = Gate("llm", concurrency=64, rate=Rate(rpm=600, burst=10), retry=Retry(attempts=4),
                timeout=30.0, breaker=Breaker())
    answer = await gate.run(ask_model, prompt)
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import Any, TypeVar, overload

from ._clock import Clock, LoopClock
from ._errors import (
    AttemptTimeout,
    CircuitOpenError,
    ConfigError,
    DeadlineExceeded,
    GateClosedError,
    OverloadedError,
    RejectedError,
)
from ._offload import ASYNC, Executors, call_kind
from ._portal import portal
from ._stats import GateStatistics, LatencyRecorder
from ._usage import CURRENT_USAGE, UsageBox, usage_of
from .policies.breaker import Breaker, CircuitBreaker
from .policies.budget import RetryBudgetState
from .policies.limit import Concurrency, ConcurrencyLimiter
from .policies.rate import Rate, RateLimiter
from .policies.retry import Attempt, Retry, attach_history
from .policies.timeout import _DEADLINE, Timeout

__all__ = ["Gate"]

T = TypeVar("T")
logger = logging.getLogger("sluice")


class _RunState:
    """Per-run memory kept only when a deadline may have to report what happened before it."""

    __slots__ = ("history", "last_error")

    def __init__(self) -> None:
        self.history: list[Attempt] = []
        self.last_error: BaseException | None = None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(exc).__name__}({text!r})" if text else type(exc).__name__


class Gate:
    """Runs calls under concurrency, rate, retry, timeout and circuit-breaker policies.

    Args:
        name: names the gate in errors, logs and statistics.
        concurrency: max calls in flight: an int, a `Concurrency`, or ``None`` (unbounded).
        rate: a `Rate` (requests and/or tokens per unit of time), or ``None``.
        retry: a `Retry`, an int (attempts, with default backoff), or ``None``.
        timeout: a `Timeout`, a number (seconds per attempt), or ``None``.
        breaker: a `Breaker`, or ``None``.
        threads: size of the pool that runs plain (blocking) functions; default: the
            concurrency limit, or ``min(32, cpus + 4)`` when unbounded.
        processes: size of the pool for `sluice.cpu` functions; default: the CPU count.
        clock: where time comes from; default: the running event loop's clock.
        seed: seeds the jitter of backoff delays, for reproducible runs.
    """

    def __init__(
        self,
        name: str = "gate",
        *,
        concurrency: Concurrency | int | None = None,
        rate: Rate | None = None,
        retry: Retry | int | None = None,
        timeout: Timeout | float | None = None,
        breaker: Breaker | None = None,
        threads: int | None = None,
        processes: int | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Gate(name=...) must be a non-empty string, got {name!r}")
        self._name = name
        self._clock: Clock = LoopClock() if clock is None else clock
        if not isinstance(self._clock, Clock):
            raise ConfigError(f"Gate(clock=...) must have now() and sleep(), got {clock!r}")
        # With the loop's own clock, deadlines are loop times already and need no conversion.
        self._loop_clock = type(self._clock) is LoopClock

        limit = Concurrency.coerce(concurrency)
        self._limiter = None if limit is None else ConcurrencyLimiter(limit, gate=name)
        if rate is not None and not isinstance(rate, Rate):
            raise ConfigError(f"Gate(rate=...) must be a sluice.Rate or None, got {rate!r}")
        self._rate = None if rate is None else RateLimiter(rate, clock=self._clock, gate=name)
        self._count_tokens = rate is not None and rate.tpm is not None
        if isinstance(retry, int) and not isinstance(retry, bool):
            retry = Retry(attempts=retry)
        if retry is not None and not isinstance(retry, Retry):
            raise ConfigError(
                f"Gate(retry=...) must be a sluice.Retry, a number of attempts or None, got {retry!r}"
            )
        self._retry = retry
        self._budget = None if retry is None or retry.budget is None else RetryBudgetState(retry.budget)
        self._timeout = Timeout.coerce(timeout)
        self._attempt_timeout = None if self._timeout is None else self._timeout.attempt
        self._total_timeout = None if self._timeout is None else self._timeout.total
        if breaker is not None and not isinstance(breaker, Breaker):
            raise ConfigError(f"Gate(breaker=...) must be a sluice.Breaker or None, got {breaker!r}")
        self._breaker = None if breaker is None else CircuitBreaker(breaker, gate=name)

        if threads is None:
            threads = limit.limit if limit is not None else min(32, (os.cpu_count() or 1) + 4)
        for label, value in (("threads", threads), ("processes", processes)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ConfigError(f"Gate({label}=...) must be an integer >= 1, got {value!r}")
        self._executors = Executors(name=name, threads=threads, processes=processes)
        self._rng = random.Random(seed)
        self._plain = (
            self._limiter is None
            and self._rate is None
            and retry is None
            and self._timeout is None
            and self._breaker is None
        )

        self._closed = False
        self._started = 0
        self._succeeded = 0
        self._failed = 0
        self._cancelled = 0
        self._retried = 0
        self._timeouts = 0
        self._active = 0
        self._in_flight = 0
        self._rejected: dict[str, int] = {}
        self._latency = LatencyRecorder()

    # ------------------------------------------------------------------ public surface
    @property
    def name(self) -> str:
        return self._name

    @property
    def closed(self) -> bool:
        return self._closed

    @overload
    async def run(
        self, fn: Callable[..., Awaitable[T]], /, *args: Any, tokens: float | None = None, **kwargs: Any
    ) -> T: ...

    @overload
    async def run(
        self, fn: Callable[..., T], /, *args: Any, tokens: float | None = None, **kwargs: Any
    ) -> T: ...

    async def run(
        self, fn: Callable[..., Any], /, *args: Any, tokens: float | None = None, **kwargs: Any
    ) -> Any:
        """Call ``fn(*args, **kwargs)`` under the gate's policies and return its result.

        ``fn`` may be an ``async def`` (awaited on the loop), a plain function (run on the
        gate's thread pool) or a `sluice.cpu` function (run on its process pool). ``tokens``
        reserves an estimate on the gate's ``tpm`` budget, settled after the call.
        """
        if self._closed:
            self._rejected["closed"] = self._rejected.get("closed", 0) + 1
            raise GateClosedError(f"gate {self._name!r} is closed")
        clock = self._clock
        start = clock.now()
        self._started += 1
        self._active += 1
        try:
            if self._plain:
                result = await self._call_plain(fn, args, kwargs)
            else:
                result = await self._run_with_policies(fn, args, kwargs, tokens)
        except BaseException as exc:
            self._active -= 1
            self._count_error(exc)
            raise
        self._active -= 1
        self._succeeded += 1
        self._latency.record(clock.now() - start)
        return result

    def run_sync(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`run` from synchronous code: executes on sluice's background event loop."""
        return portal.call(self.run, fn, *args, **kwargs)

    @overload
    def wrap(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]: ...

    @overload
    def wrap(self, fn: Callable[..., T]) -> Callable[..., Awaitable[T]]: ...

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        """Decorate ``fn`` so every call goes through this gate.

            @gate.wrap
            async def ask(prompt: str) -> str: ...
        """

        async def gated(*args: Any, **kwargs: Any) -> Any:
            return await self.run(fn, *args, **kwargs)

        gated.__name__ = getattr(fn, "__name__", "gated")
        gated.__qualname__ = getattr(fn, "__qualname__", "gated")
        gated.__doc__ = getattr(fn, "__doc__", None)
        gated.__wrapped__ = fn  # type: ignore[attr-defined]
        return gated

    def statistics(self) -> GateStatistics:
        """A frozen snapshot of counters, limiter state, breaker state and latency."""
        now = self._now_anywhere()
        limiter = self._limiter
        return GateStatistics(
            name=self._name,
            calls_started=self._started,
            succeeded=self._succeeded,
            failed=self._failed,
            cancelled=self._cancelled,
            rejected=MappingProxyType(dict(self._rejected)),
            retried=self._retried,
            timeouts=self._timeouts,
            active=self._active,
            in_flight=self._in_flight,
            waiting=0 if limiter is None else limiter.waiting,
            concurrency_limit=None if limiter is None else limiter.limit,
            breaker=None if self._breaker is None else self._breaker.statistics(now),
            rate=None if self._rate is None else self._rate.statistics(now),
            latency=self._latency.summary(),
        )

    async def __aenter__(self) -> Gate:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self, timeout: float | None = None) -> None:
        """Refuse new calls and wait (up to ``timeout`` s) for offloaded work to finish.

        Calls already running on the event loop belong to their callers and are not touched;
        threads and processes of this gate are stopped once their current job ends.
        """
        self._closed = True
        await self._executors.aclose(timeout)

    def close(self) -> None:
        """Synchronous `aclose`: refuse new calls, block until offloaded work has finished."""
        self._closed = True
        self._executors.shutdown(wait=True)

    def __repr__(self) -> str:
        policies = [
            f"{label}={value!r}"
            for label, value in (
                ("concurrency", None if self._limiter is None else self._limiter.limit),
                ("retry", self._retry),
                ("timeout", self._timeout),
                ("breaker", None if self._breaker is None else self._breaker.config),
            )
            if value is not None
        ]
        if self._rate is not None:
            policies.append("rate=...")
        return f"Gate({self._name!r}{''.join(', ' + p for p in policies)})"

    # ------------------------------------------------------------------ the pipeline
    async def _call_plain(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        kind = call_kind(fn)
        self._in_flight += 1
        if kind == ASYNC:
            try:
                return await fn(*args, **kwargs)
            finally:
                self._in_flight -= 1
        return await self._offload(kind, fn, args, kwargs)

    async def _run_with_policies(
        self, fn: Callable[..., Any], args: Any, kwargs: Any, tokens: float | None
    ) -> Any:
        outer = _DEADLINE.get()
        deadline = outer
        if self._total_timeout is not None:
            own = self._clock.now() + self._total_timeout
            if deadline is None or own < deadline:
                deadline = own
        if deadline is None:
            return await self._retry_loop(fn, args, kwargs, tokens, None, None)
        return await self._run_until(deadline, deadline != outer, fn, args, kwargs, tokens)

    async def _run_until(
        self,
        deadline: float,
        own: bool,
        fn: Callable[..., Any],
        args: Any,
        kwargs: Any,
        tokens: float | None,
    ) -> Any:
        now = self._clock.now()
        budget = deadline - now
        if budget <= 0:
            self._timeouts += 1
            raise DeadlineExceeded(
                f"gate {self._name!r}: the deadline has already passed", gate=self._name, timeout=0.0
            )
        state = _RunState()
        context_token = _DEADLINE.set(deadline) if own else None
        scope = asyncio.timeout_at(self._loop_time(deadline, now))
        try:
            async with scope:
                return await self._retry_loop(fn, args, kwargs, tokens, deadline, state)
        except TimeoutError as exc:
            if not scope.expired():
                raise
            self._timeouts += 1
            error = DeadlineExceeded(
                f"gate {self._name!r}: deadline of {budget:.3g}s passed", gate=self._name, timeout=budget
            )
            if state.history:
                attach_history(error, self._name, state.history, "the deadline passed")
            raise error from (state.last_error or exc)
        finally:
            if context_token is not None:
                _DEADLINE.reset(context_token)

    async def _retry_loop(
        self,
        fn: Callable[..., Any],
        args: Any,
        kwargs: Any,
        tokens: float | None,
        deadline: float | None,
        state: _RunState | None,
    ) -> Any:
        retry = self._retry
        if retry is None:
            return await self._attempt(fn, args, kwargs, tokens, deadline)
        clock = self._clock
        budget = self._budget
        if budget is not None:
            budget.deposit(clock.now())
        history = state.history if state is not None else None
        attempt = 1
        while True:
            started = clock.now()
            try:
                return await self._attempt(fn, args, kwargs, tokens, deadline)
            except Exception as exc:
                now = clock.now()
                decision = retry.decide(
                    exc, attempt=attempt, now=now, deadline=deadline, rng=self._rng, budget=budget
                )
                if history is None:
                    history = []
                delay = decision.delay if decision.retry else None
                history.append(Attempt(attempt, _describe(exc), now - started, delay))
                if not decision.retry:
                    if attempt > 1 or (retry.attempts > 1 and decision.reason != "not retryable"):
                        attach_history(exc, self._name, history, decision.reason)
                    raise
                if state is not None:
                    state.last_error = exc
                self._retried += 1
            # Sleep outside the except block: nothing is held (no permit, no rate slot) and a
            # cancellation here is not chained to the error being retried.
            await clock.sleep(decision.delay)
            attempt += 1

    async def _attempt(
        self,
        fn: Callable[..., Any],
        args: Any,
        kwargs: Any,
        tokens: float | None,
        deadline: float | None,
    ) -> Any:
        clock = self._clock
        breaker = self._breaker
        ticket = 0 if breaker is None else breaker.admit(clock.now())
        rate = self._rate
        reserved = 0.0 if tokens is None else float(tokens)
        started: float | None = None
        usage: UsageBox | None = None
        try:
            if rate is not None:
                await rate.acquire(reserved, deadline)
            limiter = self._limiter
            if limiter is not None and not limiter.try_acquire():
                try:
                    await limiter.acquire()
                except BaseException:
                    if rate is not None:
                        rate.refund(reserved)  # never sent: the slot goes back
                    raise
            started = clock.now()
            if self._count_tokens:
                usage = UsageBox()
                usage_token = CURRENT_USAGE.set(usage)
                try:
                    result = await self._call(fn, args, kwargs, deadline, started)
                finally:
                    CURRENT_USAGE.reset(usage_token)
            else:
                result = await self._call(fn, args, kwargs, deadline, started)
        except BaseException as exc:
            if breaker is not None:
                self._record(breaker, ticket, exc, started)
            if rate is not None and started is not None and getattr(exc, "overloaded", False):
                rate.settle(reserved, 0.0)  # refused upstream: those tokens were not spent
            raise
        if breaker is not None:
            self._record(breaker, ticket, None, started)
        if usage is not None and rate is not None:
            actual = usage.tokens if usage.tokens is not None else usage_of(result)
            if actual is not None:
                rate.settle(reserved, actual)
        return result

    async def _call(
        self, fn: Callable[..., Any], args: Any, kwargs: Any, deadline: float | None, started: float
    ) -> Any:
        timeout = self._attempt_timeout
        when = None
        if timeout is not None:
            when = started + timeout
            if deadline is not None and when >= deadline:
                when = None  # the total deadline's own timer will fire first (or together)
        kind = call_kind(fn)
        self._in_flight += 1
        if kind == ASYNC:
            try:
                if when is None:
                    return await fn(*args, **kwargs)
                return await self._bounded(fn(*args, **kwargs), when, timeout)
            finally:
                self._attempt_done()
        if when is None:
            return await self._offload(kind, fn, args, kwargs)
        return await self._bounded(self._offload(kind, fn, args, kwargs), when, timeout)

    async def _offload(self, kind: int, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        try:
            future = self._executors.submit(kind, fn, args, kwargs, self._attempt_done)
        except BaseException:
            self._attempt_done()
            raise
        return await future

    def _attempt_done(self) -> None:
        self._in_flight -= 1
        if self._limiter is not None:
            self._limiter.release()

    async def _bounded(self, awaitable: Awaitable[T], when: float, timeout: float | None) -> T:
        scope = asyncio.timeout_at(self._loop_time(when, None))
        try:
            async with scope:
                return await awaitable
        except TimeoutError as exc:
            if not scope.expired():
                raise
            self._timeouts += 1
            raise AttemptTimeout(
                f"gate {self._name!r}: attempt took longer than {timeout:g}s",
                gate=self._name,
                timeout=timeout or 0.0,
            ) from exc

    # ------------------------------------------------------------------ bookkeeping
    def _record(
        self, breaker: CircuitBreaker, ticket: int, exc: BaseException | None, started: float | None
    ) -> None:
        now = self._clock.now()
        if exc is None:
            failed: bool | None = False
        elif started is None or not isinstance(exc, Exception):
            failed = None  # never reached the upstream, or cancelled: not an outcome
        else:
            failed = breaker.config.is_failure(exc)
        duration = 0.0 if started is None else now - started
        change = breaker.record(ticket, now, failed=failed, duration=duration)
        if change == "open":
            stats = breaker.statistics(now)
            logger.warning(
                "gate %r: circuit opened (%d times so far); rejecting calls for %.3gs",
                self._name,
                stats.times_opened,
                breaker.config.open_for,
            )
        elif change == "closed":
            logger.info("gate %r: circuit closed after a successful probe", self._name)

    def _count_error(self, exc: BaseException) -> None:
        if isinstance(exc, asyncio.CancelledError):
            self._cancelled += 1
        elif isinstance(exc, RejectedError):
            if isinstance(exc, CircuitOpenError):
                reason = "circuit_open"
            elif isinstance(exc, OverloadedError):
                reason = exc.reason
            else:
                reason = "rejected"
            self._rejected[reason] = self._rejected.get(reason, 0) + 1
        else:
            self._failed += 1

    def _loop_time(self, when: float, now: float | None) -> float:
        if self._loop_clock:
            return when
        current = self._clock.now() if now is None else now
        return asyncio.get_running_loop().time() + (when - current)

    def _now_anywhere(self) -> float:
        try:
            return self._clock.now()
        except RuntimeError:  # statistics() called with no loop running
            return time.monotonic()

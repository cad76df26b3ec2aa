"""The attempt pipeline behind `Gate.run`: deadline, retry loop, attempt, call.

Policies apply in a fixed order, outermost first::

    total timeout > retry > breaker > cooldown > rate > concurrency > attempt timeout > call

so a backoff sleep holds neither a permit nor a rate slot, a rejected call costs nothing
upstream, and the total budget covers everything. Every decision is made by a policy's own
pure object (`Retry.decide`, `CircuitBreaker.admit` / `record`, `Gcra`); this module only
carries decisions out, and allocates nothing a policy does not need.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._clock import Clock
from ._errors import AttemptTimeout, DeadlineExceeded
from ._offload import ASYNC, Executors, call_kind
from ._usage import CURRENT_USAGE, UsageBox, usage_of
from .policies.breaker import CircuitBreaker
from .policies.budget import RetryBudgetState
from .policies.limit import ConcurrencyLimiter
from .policies.rate import RateLimiter
from .policies.retry import Attempt, Retry, attach_history
from .policies.timeout import _DEADLINE

__all__ = ["Engine"]

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


class Engine:
    """Policy state and the code that runs one call through it. `Gate` adds the public API."""

    _name: str
    _clock: Clock
    _loop_clock: bool
    _limiter: ConcurrencyLimiter | None
    _rate: RateLimiter | None
    _retry: Retry | None
    _budget: RetryBudgetState | None
    _attempt_timeout: float | None
    _total_timeout: float | None
    _breaker: CircuitBreaker | None
    _executors: Executors
    _rng: random.Random
    _paused_until: float
    _plain: bool
    _retried: int
    _timeouts: int
    _in_flight: int

    def pause(self, seconds: float) -> None:
        """Hold every new attempt for ``seconds`` (a shared cooldown; calls already running
        are not touched). Called automatically when an attempt fails with an error that is
        ``overloaded`` and carries ``retry_after``, such as an HTTP 429."""
        if seconds > 0:
            until = self._now_anywhere() + seconds
            if until > self._paused_until:
                self._paused_until = until
                self._plain = False

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
            message = f"gate {self._name!r}: the deadline has already passed"
            raise DeadlineExceeded(message, gate=self._name, timeout=0.0)
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
            message = f"gate {self._name!r}: deadline of {budget:.3g}s passed"
            error = DeadlineExceeded(message, gate=self._name, timeout=budget)
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
            if self._paused_until > -math.inf:
                await self._cooldown(deadline)
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
            if rate is not None and rate.counts_tokens:
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
            if started is not None and getattr(exc, "overloaded", False):
                if rate is not None:
                    rate.settle(reserved, 0.0)  # refused upstream: those tokens were not spent
                retry_after = getattr(exc, "retry_after", None)
                if isinstance(retry_after, int | float) and retry_after > 0:
                    self.pause(retry_after)
            raise
        if breaker is not None:
            self._record(breaker, ticket, None, started)
        if usage is not None and rate is not None:
            actual = usage.tokens if usage.tokens is not None else usage_of(result)
            if actual is not None:
                rate.settle(reserved, actual)
        return result

    async def _cooldown(self, deadline: float | None) -> None:
        clock = self._clock
        now = clock.now()
        until = self._paused_until
        if until <= now:
            return
        if deadline is not None and until >= deadline:
            raise DeadlineExceeded(
                f"gate {self._name!r} is paused for {until - now:.3g}s (the upstream asked for "
                f"a cooldown), longer than the {deadline - now:.3g}s left",
                gate=self._name,
                timeout=max(0.0, deadline - now),
            )
        await clock.sleep(until - now)

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

    async def _bounded(self, awaitable: Awaitable[T], when: float, limit: float | None) -> T:
        scope = asyncio.timeout_at(self._loop_time(when, None))
        try:
            async with scope:
                return await awaitable
        except TimeoutError as exc:
            if not scope.expired():
                raise
            self._timeouts += 1
            raise AttemptTimeout(
                f"gate {self._name!r}: attempt took longer than {limit:g}s",
                gate=self._name,
                timeout=limit or 0.0,
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

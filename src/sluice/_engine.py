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
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ._clock import Clock
from ._errors import AttemptTimeout, DeadlineExceeded
from ._hedging import hedged_attempt
from ._offload import ASYNC, THREAD, Executors, call_kind, explain_pickling_error
from ._outcome import CURRENT_COUNT
from ._timers import DeadlineQueue, Expiry
from ._usage import CURRENT_USAGE, UsageBox, usage_of
from .policies.adaptive_limit import AdaptiveLimit
from .policies.breaker import CircuitBreaker
from .policies.budget import RetryBudgetState
from .policies.hedge import Hedge, HedgeDelay
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
    _deadlines: DeadlineQueue
    _hedge: Hedge | None
    _hedge_delay: HedgeDelay | None
    _hedge_budget: RetryBudgetState | None
    _hedges: int
    _hedge_wins: int
    _observing: bool
    _adaptive: AdaptiveLimit | None
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

    def _pipeline(
        self, fn: Callable[..., Any], args: Any, kwargs: Any, tokens: float | None, now: float
    ) -> Coroutine[Any, Any, Any]:
        """The coroutine that runs one call through the policies (built without an extra
        coroutine frame: this is the hot path)."""
        outer = _DEADLINE.get()
        deadline = outer
        if self._total_timeout is not None:
            own = now + self._total_timeout
            if deadline is None or own < deadline:
                deadline = own
        if deadline is not None:
            return self._run_until(deadline, deadline != outer, fn, args, kwargs, tokens, now)
        if self._retry is None:
            return self._try(fn, args, kwargs, tokens, None, now)
        return self._retry_loop(fn, args, kwargs, tokens, None, None, now)

    async def _run_until(
        self,
        deadline: float,
        own: bool,
        fn: Callable[..., Any],
        args: Any,
        kwargs: Any,
        tokens: float | None,
        now: float,
    ) -> Any:
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
                if self._retry is None:
                    return await self._try(fn, args, kwargs, tokens, deadline, now)
                return await self._retry_loop(fn, args, kwargs, tokens, deadline, state, now)
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
        now: float,
    ) -> Any:
        retry = self._retry
        assert retry is not None
        clock = self._clock
        budget = self._budget
        if budget is not None:
            budget.deposit(now)
        history = state.history if state is not None else None
        count = CURRENT_COUNT.get()
        if count is not None and count.gate is not self:
            count = None  # it belongs to an enclosing gate's call
        attempt = 1
        while True:
            if count is not None:
                count.count = attempt
            try:
                return await self._try(fn, args, kwargs, tokens, deadline, now)
            except Exception as exc:
                failed_at = clock.now()
                decision = retry.decide(
                    exc,
                    attempt=attempt,
                    now=failed_at,
                    deadline=deadline,
                    rng=self._rng,
                    budget=budget,
                )
                if history is None:
                    history = []
                delay = decision.delay if decision.retry else None
                history.append(Attempt(attempt, _describe(exc), failed_at - now, delay))
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
            now = clock.now()

    async def _attempt(
        self,
        fn: Callable[..., Any],
        args: Any,
        kwargs: Any,
        tokens: float | None,
        deadline: float | None,
        now: float,
    ) -> Any:
        """One try: breaker, cooldown, rate, permit, then the call under its attempt timeout.

        ``now`` is the time the attempt begins; the clock is read again only after a wait.
        """
        breaker = self._breaker
        ticket = 0 if breaker is None else breaker.admit(now)
        rate = self._rate
        limiter = self._limiter
        reserved = 0.0 if tokens is None else float(tokens)
        started: float | None = None
        load = 0
        usage: UsageBox | None = None
        try:
            waited = False
            if self._paused_until > now:
                await self._cooldown(deadline, now)
                now = self._clock.now()
            if rate is not None:
                slot = rate.book(reserved, deadline, now)
                if slot > now:
                    await rate.wait(slot - now, reserved)
                    waited = True
            if limiter is not None and not limiter.try_acquire():
                try:
                    await limiter.acquire()
                except BaseException:
                    if rate is not None:
                        rate.refund(reserved)  # never sent: the slot goes back
                    raise
                waited = True
            started = self._clock.now() if waited else now
            if limiter is not None:
                load = limiter.in_flight  # at the start of this attempt, itself included
            usage_token = None
            if rate is not None and rate.counts_tokens:
                usage = UsageBox()
                usage_token = CURRENT_USAGE.set(usage)
            try:
                limit = self._attempt_timeout
                if limit is None or (deadline is not None and started + limit >= deadline):
                    # No timer of its own: none is set, or the deadline's timer fires first.
                    result = await self._call(fn, args, kwargs)
                else:
                    result = await self._call_with_timer(fn, args, kwargs, started, limit)
            finally:
                if usage_token is not None:
                    CURRENT_USAGE.reset(usage_token)
        except BaseException as exc:
            if breaker is not None:
                self._record(breaker, ticket, exc, started)
            if self._observing and started is not None:
                self._observe(started, exc, load)
            if started is not None and getattr(exc, "overloaded", False):
                if rate is not None:
                    rate.settle(reserved, 0.0)  # refused upstream: those tokens were not spent
                retry_after = getattr(exc, "retry_after", None)
                if isinstance(retry_after, int | float) and retry_after > 0:
                    self.pause(retry_after)
            raise
        if breaker is not None:
            if breaker.config.slow_call_s is None:
                breaker.record_success(ticket)
            else:
                self._record(breaker, ticket, None, started)
        if self._observing:
            self._observe(started, None, load)
        if usage is not None and rate is not None:
            actual = usage.tokens if usage.tokens is not None else usage_of(result)
            if actual is not None:
                rate.settle(reserved, actual)
        return result

    async def _call(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        """Run the call where it belongs; the attempt ends (permit released) when it does."""
        kind = call_kind(fn)
        self._in_flight += 1
        if kind != ASYNC:
            return await self._offload(kind, fn, args, kwargs)
        try:
            return await fn(*args, **kwargs)
        finally:
            self._attempt_done()

    async def _call_with_timer(
        self, fn: Callable[..., Any], args: Any, kwargs: Any, started: float, limit: float
    ) -> Any:
        # The protocol of asyncio.timeout (the timer cancels the task; here the cancellation
        # is uncancelled and converted), on the gate's shared deadline queue: one loop timer
        # for all attempts instead of one heap entry per call.
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - gates always run inside a task
            raise RuntimeError("sluice gates must be awaited from inside an asyncio task")
        loop = asyncio.get_running_loop()
        when = self._loop_time(started + limit, started)
        expiry = self._deadlines.start(loop, when, task)
        private: asyncio.TimerHandle | None = None
        if expiry is None:  # the queue belongs to another loop: a timer of our own
            expiry = Expiry(task, when)
            private = loop.call_at(when, expiry.fire)
        try:
            result = await self._call(fn, args, kwargs)
        except asyncio.CancelledError as exc:
            self._stop_timer(expiry, private)
            if expiry.fired and task.uncancel() <= expiry.cancelling:
                self._timeouts += 1
                raise AttemptTimeout(
                    f"gate {self._name!r}: attempt took longer than {limit:g}s",
                    gate=self._name,
                    timeout=limit,
                ) from exc
            raise
        except BaseException:
            self._stop_timer(expiry, private)
            if expiry.fired:
                task.uncancel()
            raise
        self._stop_timer(expiry, private)
        if expiry.fired:  # fired as the call finished: the result stands
            task.uncancel()
        return result

    def _stop_timer(self, expiry: Expiry, private: asyncio.TimerHandle | None) -> None:
        if private is None:
            self._deadlines.finish(expiry)
        else:
            private.cancel()
            expiry.done = True

    async def _cooldown(self, deadline: float | None, now: float) -> None:
        until = self._paused_until
        if deadline is not None and until >= deadline:
            raise DeadlineExceeded(
                f"gate {self._name!r} is paused for {until - now:.3g}s (the upstream asked for "
                f"a cooldown), longer than the {deadline - now:.3g}s left",
                gate=self._name,
                timeout=max(0.0, deadline - now),
            )
        await self._clock.sleep(until - now)

    async def _offload(self, kind: int, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        """Run ``fn`` on a worker; the attempt ends (permit released) when the worker is free."""
        try:
            future = self._executors.submit(kind, fn, args, kwargs, self._attempt_done)
        except BaseException:
            self._attempt_done()
            raise
        if kind == THREAD:
            return await future
        try:
            return await future
        except Exception as exc:
            explain_pickling_error(exc)
            raise

    def _attempt_done(self) -> None:
        self._in_flight -= 1
        if self._limiter is not None:
            self._limiter.release()

    # ------------------------------------------------------------------ bookkeeping
    def _try(
        self,
        fn: Callable[..., Any],
        args: Any,
        kwargs: Any,
        tokens: float | None,
        deadline: float | None,
        now: float,
    ) -> Coroutine[Any, Any, Any]:
        """One attempt, hedged when the gate hedges (no coroutine frame of its own)."""
        if self._hedge is None:
            return self._attempt(fn, args, kwargs, tokens, deadline, now)
        return hedged_attempt(self, fn, args, kwargs, tokens, deadline, now)

    def _observe(self, started: float, exc: BaseException | None, load: int) -> None:
        """Feed an attempt's latency and outcome to the policies that learn from them."""
        if isinstance(exc, asyncio.CancelledError):
            return  # a cancelled attempt (a hedge loser, a caller that left) says nothing
        now = self._clock.now()
        latency = now - started
        if exc is None and self._hedge_delay is not None:
            self._hedge_delay.record(latency)
        adaptive = self._adaptive
        if adaptive is not None and self._limiter is not None:
            limit = adaptive.on_outcome(now, latency, load, exc)
            if limit is not None:
                self._limiter.set_limit(limit)

    def _record(
        self, breaker: CircuitBreaker, ticket: int, exc: BaseException | None, started: float | None
    ) -> None:
        now = self._clock.now()
        if exc is None:
            failed: bool | None = False
        elif started is None or not isinstance(exc, Exception):
            failed = None  # never reached the upstream, or cancelled: not an outcome
        else:
            failed = True if breaker.config.is_failure(exc) else None
        duration = 0.0 if started is None else now - started
        change = breaker.record(ticket, now, failed=failed, duration=duration)
        if change == "open":
            stats = breaker.statistics(now)
            logger.warning(
                "gate %r: circuit opened, rejecting calls for %.3gs (opened %d time(s) so far)",
                self._name,
                breaker.config.open_for,
                stats.times_opened,
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

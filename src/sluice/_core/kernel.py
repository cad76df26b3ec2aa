"""The kernel: runs one call through a gate's policies, and counts what happened.

Policies apply in a fixed order, outermost first::

    fallback > cache > total timeout > retry > hedge > [stages: breaker > cooldown > rate >
    concurrency] > attempt timeout > the call (on the loop, or on an executor)

so a fallback's answer is never cached, a hit costs nothing, a backoff sleep holds neither a
permit nor a rate slot, a rejected call costs nothing upstream, and the total budget covers
everything. The kernel holds no policy's decision: retries are decided by `Retrying`, hedging
by `Hedger`, admission and outcomes by the stages the state store built, which `Attempts`
asks. It only carries out what they say: sleep, wait, go, give up.

    kernel = Kernel(GateSpec("llm", LoopClock()), store=LocalStore(), executors=executors)
    answer = await kernel.run(Call(ask, (prompt,), {}, tokens=None), fallback=None)
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
from collections.abc import Callable, Coroutine
from types import FunctionType, MappingProxyType
from typing import Any

from .._cache.runner import CacheRunner
from .._classify import ErrorInfo, classify_error
from .._clock import ClockReader, now_anywhere
from .._errors import (
    CircuitOpenError,
    DeadlineExceeded,
    GateClosedError,
    OverloadedError,
    RejectedError,
    SluiceError,
)
from .._executors import Executors
from .._executors.kinds import call_kind
from .._outcome import Err, Ok
from .._stats import LATENCY_RING, GateStatistics, latency_summary
from .._validate import check_non_negative
from ..policies.retry import Retry
from ..policies.timeout import Timeout
from .attempts import Attempts
from .call import Call
from .deadline import DEADLINE
from .deadlines import Deadlines
from .hedging import Hedger
from .retrying import Retrying
from .stage import Stage
from .state import GateSpec, GateState, StateStatistics, StateStore

__all__ = ["Kernel"]

_CO_COROUTINE = inspect.CO_COROUTINE
_RING_MASK = LATENCY_RING - 1


class Kernel:
    """Runs calls through one gate's policies. `Gate` is its public face."""

    def __init__(
        self,
        spec: GateSpec,
        *,
        store: StateStore,
        executors: Executors,
        observers: tuple[Stage, ...] = (),
        retry: Retry | None = None,
        rng: random.Random | None = None,
        timeout: Timeout | None = None,
        hedger: Hedger | None = None,
        cache: CacheRunner | None = None,
        fallback: Any = None,
        classify: Callable[[BaseException], ErrorInfo] = classify_error,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.clock = spec.clock
        self._clock = ClockReader(spec.clock)
        self.timeout = timeout
        self._total_timeout = None if timeout is None else timeout.total
        self.hedger = hedger
        self.cache = cache
        self._fallback = fallback
        self.state: GateState = store.open(spec)
        self.deadlines = Deadlines(gate=spec.name, clock=self._clock)
        self.attempts = Attempts(
            name=spec.name,
            clock=self._clock,
            state=self.state,
            executors=executors,
            timeout=None if timeout is None else timeout.attempt,
            deadlines=self.deadlines,
            observers=observers,
            classify=classify,
        )
        self._try: Callable[[Call], Coroutine[Any, Any, Any]] = (
            self.attempts.attempt
            if hedger is None
            else functools.partial(hedger.attempt, self.attempts)
        )
        self._budget = None if retry is None else self.state.retry_budget
        self.retrying = (
            None
            if retry is None
            else Retrying(
                retry,
                budget=self._budget,
                rng=rng or random.Random(),
                gate=self.name,
                classify=classify,
            )
        )
        # Calls that need neither a deadline nor a retry nor hedging go straight to their one
        # attempt (when no enclosing deadline applies either).
        self._direct = retry is None and self._total_timeout is None and hedger is None

        self.closed = False
        self._started = 0
        self._succeeded = 0
        self._failed = 0
        self._cancelled = 0
        self._late = 0  # calls whose deadline had passed before they started
        self._fallbacks = 0
        self._rejected: dict[str, int] = {}
        # Latency of successful calls: a ring of the most recent, and the running sum and max.
        self._latencies = [0.0] * LATENCY_RING
        self._latency_sum = 0.0
        self._latency_max = 0.0

    # ------------------------------------------------------------------ a call
    async def run(self, call: Call, fallback: Any) -> Any:
        """The result of ``call`` under every policy, or its fallback's answer."""
        if self.closed:
            self._rejected["closed"] = self._rejected.get("closed", 0) + 1
            await asyncio.sleep(0)  # see below: a refusal still lets the loop run
            raise GateClosedError(f"gate {self.name!r} is closed")
        cache = self.cache
        # Built before the call is counted or can fall back: a key that cannot be built is a
        # programming error (say, unserializable arguments) and must surface as such.
        key = None if cache is None else cache.key_for(call.fn, call.args, call.kwargs)
        loop = asyncio.get_running_loop()
        clock = self._clock
        read = clock.read if loop is clock.loop else clock.on(loop)
        start = call.start = call.began = read()
        fn = call.fn
        if type(fn) is FunctionType and fn.__code__.co_flags & _CO_COROUTINE:
            call.kind = None  # the common case of `call_kind`, without the call
        else:
            call.kind = call_kind(fn)
        self._started += 1
        try:
            if key is not None:
                # A miss runs the pipeline once for every identical call in flight, starting
                # when that shared execution starts.
                assert cache is not None
                result = await cache.run_keyed(key, functools.partial(self._execute_anew, call))
            elif self._direct and call.timeout is None and DEADLINE.get() is None:
                result = await self._try(call)
            else:
                result = await self._execute(call)
        except BaseException as exc:
            self._count_error(exc)
            if isinstance(exc, SluiceError):
                # A refusal (open circuit, full queue, passed deadline) may come without any
                # wait: a caller retrying it in a loop would never let the event loop run.
                await asyncio.sleep(0)
            if fallback is None:
                fallback = self._fallback
            if fallback is None or not isinstance(exc, Exception):
                raise
            self._fallbacks += 1
            return await _fall_back(fallback, exc)
        elapsed = read() - start
        self._latencies[self._succeeded & _RING_MASK] = elapsed
        self._succeeded += 1
        self._latency_sum += elapsed
        if elapsed > self._latency_max:
            self._latency_max = elapsed
        return result

    async def run_outcome(self, call: Call, fallback: Any) -> Ok[Any] | Err:
        """Like `run`, but an `Ok` or `Err` with the attempts made and the time taken
        (cancellation still propagates)."""
        start = self._clock.now()
        try:
            value = await self.run(call, fallback)
        except Exception as exc:
            return Err(exc, attempts=call.attempts, elapsed=self._clock.now() - start)
        return Ok(value, attempts=call.attempts, elapsed=self._clock.now() - start)

    def _execute_anew(self, call: Call) -> Coroutine[Any, Any, Any]:
        call.start = call.began = self._clock.now()
        return self._execute(call)

    async def _execute(self, call: Call) -> Any:
        """The deadline, then the retry loop around attempts."""
        outer = DEADLINE.get()
        deadline = outer
        total = self._total_timeout if call.timeout is None else call.timeout.total
        if total is not None:
            own = call.start + total
            if deadline is None or own < deadline:
                deadline = own
        context_token = None
        if deadline is not None:
            if deadline <= call.start:
                self._late += 1
                message = f"gate {self.name!r}: the deadline has already passed"
                raise DeadlineExceeded(message, gate=self.name, timeout=0.0)
            call.deadline = deadline
            if deadline != outer:
                context_token = DEADLINE.set(deadline)
        try:
            retry_budget = self._budget
            if retry_budget is not None:
                retry_budget.deposit(call.start)
            retrying = self.retrying
            while True:
                try:
                    return await self._try(call)
                except Exception as exc:
                    if retrying is None:
                        raise
                    now = self._clock.now()
                    delay = retrying.after_failure(call, exc, call.attempts, call.began, now)
                    if delay is None:
                        raise
                # Sleep outside the except block: nothing is held (no permit, no rate slot)
                # and a cancellation here is not chained to the error being retried.
                self.deadlines.guard(call)
                await self.clock.sleep(delay)
                call.attempts += 1
                call.began = self._clock.now()
        except BaseException as exc:
            exceeded = self.deadlines.settle(call, exc)
            if exceeded is None:
                raise
            raise exceeded from (call.last_error or exc)
        finally:
            if call.expiry is not None:
                self.deadlines.settle(call, None)  # a deadline that fired as the call ended
            if context_token is not None:
                DEADLINE.reset(context_token)

    # ------------------------------------------------------------------ controls
    def pause(self, seconds: float) -> None:
        seconds = check_non_negative("gate.pause", "seconds", seconds)
        if seconds > 0:
            self.state.pause(now_anywhere(self.clock) + seconds)

    def observe_limits(self, **limits: float | None) -> None:
        self.state.observe_limits(now_anywhere(self.clock), **limits)

    def concurrency_ceiling(self) -> int | None:
        return self.state.concurrency_ceiling()

    def admission(self) -> StateStatistics:
        return self.state.statistics(now_anywhere(self.clock))

    def statistics(self) -> GateStatistics:
        now = now_anywhere(self.clock)
        state = self.state.statistics(now)
        hedger = self.hedger
        rejected = self._rejected
        return GateStatistics(
            name=self.name,
            calls_started=self._started,
            succeeded=self._succeeded,
            failed=self._failed,
            cancelled=self._cancelled,
            rejected=MappingProxyType(dict(rejected)),
            retried=0 if self.retrying is None else self.retrying.retried,
            timeouts=self._late + self.deadlines.expired + self.attempts.timeouts,
            # Calls inside `run`: started and not ended (a closed gate's refusals never start).
            active=self._started
            - self._succeeded
            - self._failed
            - self._cancelled
            - (sum(rejected.values()) - rejected.get("closed", 0)),
            in_flight=self.attempts.in_flight,
            waiting=state.waiting,
            concurrency_limit=state.concurrency_limit,
            breaker=state.breaker,
            rate=state.rate,
            latency=latency_summary(
                self._latencies, self._succeeded, self._latency_sum, self._latency_max
            ),
            paused_for=state.paused_for,
            hedges=0 if hedger is None else hedger.hedges,
            hedge_wins=0 if hedger is None else hedger.wins,
            fallbacks=self._fallbacks,
            cache=None if self.cache is None else self.cache.statistics(),
            adaptive=state.adaptive,
            shared=state.shared,
        )

    async def aclose(self) -> None:
        self.closed = True
        if self.cache is not None:
            await self.cache.aclose()
        await self.attempts.executors.aclose()
        await self.state.aclose()

    def close(self) -> None:
        self.closed = True
        if self.cache is not None:
            self.cache.close()
        self.attempts.executors.shutdown(wait=True)

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


async def _fall_back(fallback: Any, exc: Exception) -> Any:
    """The fallback's answer for ``exc``: a callable is called with it (and awaited if it
    returns an awaitable); anything else is the answer itself."""
    if not callable(fallback):
        return fallback
    answer = fallback(exc)
    if inspect.isawaitable(answer):
        answer = await answer
    return answer

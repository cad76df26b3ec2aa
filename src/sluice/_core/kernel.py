"""The kernel: runs one call through a gate's policies, and counts what happened.

Policies apply in a fixed order, outermost first::

    cache > fallback > total timeout > retry > hedge > [stages: breaker > cooldown > rate >
    concurrency] > attempt timeout > the call (on the loop, or on an executor)

so a hit costs nothing, a backoff sleep holds neither a permit nor a rate slot, a rejected
call costs nothing upstream, and the total budget covers everything. The kernel holds no
policy's decision: retries are decided by `Retrying`, hedging by `Hedger`, admission and
outcomes by the stages the state store built (see `sluice._core.stage`). It only carries out
what they say: sleep, wait, go, give up.

Deadlines of both kinds (the total budget and each attempt's) sit on shared FIFO queues (see
`sluice._core.timers`): one loop timer per gate and kind instead of one per call.

    kernel = Kernel(GateSpec("llm", LoopClock()), store=LocalStore(), executors=executors)
    answer = await kernel.run(Call(ask, (prompt,), {}, tokens=None), fallback=None)
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import random
from collections.abc import Callable, Coroutine
from types import MappingProxyType
from typing import Any

from .._cache.runner import CacheRunner
from .._clock import Clock, LoopClock, now_anywhere
from .._errors import (
    AttemptTimeout,
    CircuitOpenError,
    DeadlineExceeded,
    GateClosedError,
    OverloadedError,
    RejectedError,
)
from .._executors import Executors
from .._executors.kinds import call_kind
from .._outcome import Err, Ok
from .._stats import GateStatistics, LatencyRecorder
from ..policies.retry import Retry, attach_history
from ..policies.timeout import Timeout
from .call import Call, Try
from .deadline import DEADLINE
from .hedging import Hedger
from .retrying import Retrying
from .stage import Instruction, Stage
from .state import GateSpec, GateState, StateStore, StoreUnavailable
from .timers import DeadlineQueue

__all__ = ["Kernel"]


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
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.clock = spec.clock
        # With the loop's own clock, deadlines are loop times already and need no conversion.
        self._loop_clock = type(spec.clock) is LoopClock
        self.executors = executors
        self._observers = observers
        self.timeout = timeout
        self._attempt_timeout = None if timeout is None else timeout.attempt
        self._total_timeout = None if timeout is None else timeout.total
        self.hedger = hedger
        self.cache = cache
        self._fallback = fallback
        self._attempt_timers = DeadlineQueue()
        self._total_timers = DeadlineQueue()
        # Kernel.attempt, or the hedger's: neither holds the kernel (no reference cycle, so an
        # unused gate is freed at once, its worker threads with it).
        self._try: Callable[[Kernel, Call, int, float], Coroutine[Any, Any, Any]] = (
            Kernel.attempt if hedger is None else hedger.attempt
        )
        self.state: GateState = store.open(spec)
        self._base: tuple[Stage, ...] = ()
        self._stages: tuple[Stage, ...] = ()
        self._holders: tuple[Stage, ...] = ()
        self._refresh()
        self.retrying = (
            None
            if retry is None
            else Retrying(
                retry, budget=self.state.retry_budget, rng=rng or random.Random(), gate=self.name
            )
        )

        self.closed = False
        self._started = 0
        self._succeeded = 0
        self._failed = 0
        self._cancelled = 0
        self._timeouts = 0
        self._active = 0
        self._in_flight = 0
        self._fallbacks = 0
        self._rejected: dict[str, int] = {}
        self._latency = LatencyRecorder()

    def _refresh(self) -> None:
        """Take the state's stages (again: they changed), then the kernel's observers."""
        self._base = self.state.stages
        self._stages = self._base + self._observers
        self._holders = tuple(stage for stage in self._stages if stage.holds)

    @property
    def stages(self) -> tuple[Stage, ...]:
        if self.state.stages is not self._base:
            self._refresh()
        return self._stages

    @property
    def attempt_timers(self) -> DeadlineQueue:
        return self._attempt_timers

    # ------------------------------------------------------------------ a call
    async def run(self, call: Call, fallback: Any) -> Any:
        """The result of ``call`` under every policy, or its fallback's answer."""
        if self.closed:
            self._rejected["closed"] = self._rejected.get("closed", 0) + 1
            raise GateClosedError(f"gate {self.name!r} is closed")
        clock = self.clock
        cache = self.cache
        # Built before the call is counted or can fall back: a key that cannot be built is a
        # programming error (say, unserializable arguments) and must surface as such.
        key = None if cache is None else cache.key_for(call.fn, call.args, call.kwargs)
        start = call.start = clock.now()
        call.kind = call_kind(call.fn)
        self._started += 1
        self._active += 1
        try:
            if key is None:
                result = await self._execute(call)
            else:
                assert cache is not None
                # A miss runs the pipeline once for every identical call in flight, starting
                # when that shared execution starts.
                result = await cache.run_keyed(key, functools.partial(self._execute_anew, call))
        except BaseException as exc:
            self._active -= 1
            self._count_error(exc)
            if fallback is None:
                fallback = self._fallback
            if fallback is None or not isinstance(exc, Exception):
                raise
            self._fallbacks += 1
            return await _fall_back(fallback, exc)
        self._active -= 1
        self._succeeded += 1
        self._latency.record(clock.now() - start)
        return result

    async def run_outcome(self, call: Call, fallback: Any) -> Ok[Any] | Err:
        """Like `run`, but an `Ok` or `Err` with the attempts made and the time taken
        (cancellation still propagates)."""
        clock = self.clock
        start = clock.now()
        try:
            value = await self.run(call, fallback)
        except Exception as exc:
            return Err(exc, attempts=call.attempts, elapsed=clock.now() - start)
        return Ok(value, attempts=call.attempts, elapsed=clock.now() - start)

    def _execute_anew(self, call: Call) -> Any:
        call.start = self.clock.now()
        return self._execute(call)

    async def _execute(self, call: Call) -> Any:
        """Deadline, then the retry loop around attempts."""
        clock = self.clock
        outer = DEADLINE.get()
        deadline = outer
        total = self._total_timeout
        if total is not None:
            own = call.start + total
            if deadline is None or own < deadline:
                deadline = own
        expiry = None
        context_token = None
        if deadline is not None:
            budget = deadline - call.start
            if budget <= 0:
                self._timeouts += 1
                message = f"gate {self.name!r}: the deadline has already passed"
                raise DeadlineExceeded(message, gate=self.name, timeout=0.0)
            call.deadline = deadline
            if deadline != outer:
                context_token = DEADLINE.set(deadline)
            task = _current_task()
            when = self._loop_time(deadline, call.start)
            expiry = self._total_timers.arm(asyncio.get_running_loop(), when, task)
        try:
            retrying = self.retrying
            now = call.start
            if retrying is not None:
                retrying.begin(now)
            number = 1
            while True:
                call.attempts = number
                try:
                    return await self._try(self, call, number, now)
                except Exception as exc:
                    if retrying is None:
                        raise
                    delay = retrying.after_failure(call, exc, number, now, clock.now())
                    if delay is None:
                        raise
                # Sleep outside the except block: nothing is held (no permit, no rate slot)
                # and a cancellation here is not chained to the error being retried.
                await clock.sleep(delay)
                number += 1
                now = clock.now()
        except BaseException as exc:
            if expiry is None:
                raise
            self._total_timers.disarm(expiry)
            timed_out = expiry.expired(task) and isinstance(exc, asyncio.CancelledError)
            expiry = None  # settled here, not again below
            if not timed_out:
                raise
            self._timeouts += 1
            assert deadline is not None  # a deadline timer was armed
            budget = deadline - call.start
            error = DeadlineExceeded(
                f"gate {self.name!r}: deadline of {budget:.3g}s passed",
                gate=self.name,
                timeout=budget,
            )
            if call.history:
                attach_history(error, self.name, call.history, "the deadline passed")
            raise error from (call.last_error or exc)
        finally:
            if expiry is not None:
                self._total_timers.disarm(expiry)
                expiry.expired(task)  # fired as the call ended: the result stands
            if context_token is not None:
                DEADLINE.reset(context_token)

    # ------------------------------------------------------------------ one attempt
    async def attempt(self, call: Call, number: int, now: float) -> Any:
        """One try: the stages admit it, the call runs under its attempt timeout, the stages
        record how it ended. ``now`` is when it begins; the clock is read again only after a
        wait."""
        attempt = Try(call, number)
        clock = self.clock
        if self.state.stages is not self._base:
            self._refresh()
        stages = self._stages
        holders = self._holders
        entered = 0
        waited = False
        try:
            for stage in stages:
                step = stage.before(attempt, now)
                entered += 1
                if step is not None:
                    await _perform(step, clock)
                    waited = True
                    now = clock.now()
        except StoreUnavailable as exc:
            self._abort(attempt, stages, entered, exc)
            stages = await self._fail_over(attempt, exc)
            holders = tuple(stage for stage in stages if stage.holds)
            waited = True
        except BaseException as exc:
            self._abort(attempt, stages, entered, exc)
            raise
        started = attempt.started = clock.now() if waited else now
        self._in_flight += 1
        expiry = None
        limit = self._attempt_timeout
        if limit is not None:
            deadline = call.deadline
            if deadline is None or started + limit < deadline:
                # Otherwise no timer of its own: the deadline's fires first.
                task = _current_task()
                when = self._loop_time(started + limit, started)
                expiry = self._attempt_timers.arm(asyncio.get_running_loop(), when, task)
        try:
            kind = call.kind
            if kind is None:  # a coroutine function: awaited right here, on the loop
                try:
                    result = await call.fn(*call.args, **call.kwargs)
                finally:
                    self._in_flight -= 1
                    for holder in holders:
                        holder.release(attempt)
            else:
                done = functools.partial(self._work_done, attempt, holders)
                result = await self.executors.run(kind, call.fn, call.args, call.kwargs, done)
        except BaseException as exc:
            error = exc
            if expiry is not None:
                self._attempt_timers.disarm(expiry)
                if expiry.expired(task) and isinstance(exc, asyncio.CancelledError):
                    assert limit is not None  # an attempt timer was armed
                    self._timeouts += 1
                    error = AttemptTimeout(
                        f"gate {self.name!r}: attempt took longer than {limit:g}s",
                        gate=self.name,
                        timeout=limit,
                    )
            self._record(attempt, stages, error, clock.now())
            if error is exc:
                raise
            raise error from exc
        if expiry is not None:
            self._attempt_timers.disarm(expiry)
            expiry.expired(task)  # fired as the call finished: the result stands
        attempt.result = result
        ended = clock.now()
        for stage in stages:
            stage.after(attempt, ended)
        return result

    def _record(
        self, attempt: Try, stages: tuple[Stage, ...], error: BaseException, now: float
    ) -> None:
        """A started attempt failed: read the signals its error carries, tell every stage."""
        attempt.error = error
        if isinstance(error, Exception):
            attempt.overloaded = bool(getattr(error, "overloaded", False))
            retry_after = getattr(error, "retry_after", None)
            if (
                isinstance(retry_after, int | float)
                and not isinstance(retry_after, bool)
                and math.isfinite(retry_after)
                and retry_after >= 0
            ):
                attempt.retry_after = float(retry_after)
        for stage in stages:
            stage.after(attempt, now)

    def _abort(
        self, attempt: Try, stages: tuple[Stage, ...], entered: int, error: BaseException
    ) -> None:
        """Admission stopped: the stages that took the attempt in give back what they booked."""
        attempt.error = error
        now = self.clock.now()
        for stage in stages[:entered]:
            if stage.holds:
                stage.release(attempt)
            stage.after(attempt, now)

    async def _fail_over(self, attempt: Try, cause: StoreUnavailable) -> tuple[Stage, ...]:
        """The state store is unreachable: refuse (fail closed) or admit on local state."""
        state = self.state
        if state.fail == "closed":
            raise RejectedError(
                f"gate {self.name!r}: its shared state cannot be reached ({cause}) and the "
                "store fails closed",
                gate=self.name,
            ) from cause
        attempt.error = None
        stages = state.fallback() + self._observers
        entered = 0
        try:
            for stage in stages:
                step = stage.before(attempt, self.clock.now())
                entered += 1
                if step is not None:
                    await _perform(step, self.clock)
        except BaseException as exc:
            self._abort(attempt, stages, entered, exc)
            raise
        return stages

    def _work_done(self, attempt: Try, holders: tuple[Stage, ...]) -> None:
        """The offloaded work of ``attempt`` is over: the worker is free."""
        self._in_flight -= 1
        for holder in holders:
            holder.release(attempt)

    # ------------------------------------------------------------------ controls
    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self.state.pause(now_anywhere(self.clock) + seconds)

    def observe_limits(self, **limits: float | None) -> None:
        self.state.observe_limits(now_anywhere(self.clock), **limits)

    def concurrency_ceiling(self) -> int | None:
        return self.state.concurrency_ceiling()

    def statistics(self) -> GateStatistics:
        now = now_anywhere(self.clock)
        state = self.state.statistics(now)
        hedger = self.hedger
        return GateStatistics(
            name=self.name,
            calls_started=self._started,
            succeeded=self._succeeded,
            failed=self._failed,
            cancelled=self._cancelled,
            rejected=MappingProxyType(dict(self._rejected)),
            retried=0 if self.retrying is None else self.retrying.retried,
            timeouts=self._timeouts,
            active=self._active,
            in_flight=self._in_flight,
            waiting=state.waiting,
            concurrency_limit=state.concurrency_limit,
            breaker=state.breaker,
            rate=state.rate,
            latency=self._latency.summary(),
            paused_for=state.paused_for,
            hedges=0 if hedger is None else hedger.hedges,
            hedge_wins=0 if hedger is None else hedger.wins,
            fallbacks=self._fallbacks,
            cache=None if self.cache is None else self.cache.statistics(),
            adaptive=state.adaptive,
        )

    async def aclose(self) -> None:
        self.closed = True
        if self.cache is not None:
            await self.cache.aclose()
        await self.executors.aclose()
        await self.state.aclose()

    def close(self) -> None:
        self.closed = True
        if self.cache is not None:
            self.cache.close()
        self.executors.shutdown(wait=True)

    # ------------------------------------------------------------------ bookkeeping
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

    def _loop_time(self, when: float, now: float) -> float:
        if self._loop_clock:
            return when
        return asyncio.get_running_loop().time() + (when - now)


async def _perform(step: Instruction, clock: Clock) -> None:
    """Carry out a stage's instruction: sleep, or await and carry out what that returns."""
    while step is not None:
        if isinstance(step, int | float):
            await clock.sleep(step)
            return
        step = await step


def _current_task() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - gates always run inside a task
        raise RuntimeError("sluice gates must be awaited from inside an asyncio task")
    return task


async def _fall_back(fallback: Any, exc: Exception) -> Any:
    """The fallback's answer for ``exc``: a callable is called with it (and awaited if it
    returns an awaitable); anything else is the answer itself."""
    if not callable(fallback):
        return fallback
    answer = fallback(exc)
    if inspect.isawaitable(answer):
        answer = await answer
    return answer

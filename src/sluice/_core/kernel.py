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
import weakref
from collections.abc import Callable, Coroutine
from types import FunctionType, MappingProxyType
from typing import Any

from .._cache.runner import CacheRunner
from .._clock import Clock, LoopClock, now_anywhere, reader
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
from .._stats import LATENCY_RING, GateStatistics, latency_summary
from ..policies.retry import Retry, attach_history
from ..policies.timeout import Timeout
from .call import Call
from .deadline import DEADLINE
from .hedging import Hedger
from .retrying import Retrying
from .stage import Instruction, Stage
from .state import GateSpec, GateState, StateStore, StoreUnavailable
from .timers import DeadlineQueue, Expiry

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
        # Whether attempts look at timers at all: a gate with a timeout, or whose calls may
        # carry a deadline (any gate that is not bare; see `_refresh`).
        self._timed = False
        self.hedger = hedger
        self.cache = cache
        self._fallback = fallback
        self._attempt_timers = DeadlineQueue(on_fire=_weak(self._attempt_expired))
        self._total_timers = DeadlineQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._read: Callable[[], float] = self.clock.now
        # Kernel.attempt, or the hedger's: neither holds the kernel (no reference cycle, so an
        # unused gate is freed at once, its worker threads with it).
        self._try: Callable[[Kernel, Call], Coroutine[Any, Any, Any]] = (
            Kernel.attempt if hedger is None else hedger.attempt
        )
        self._retry = retry
        self.state: GateState = store.open(spec)
        self._base: tuple[Stage, ...] = ()
        self._stages: tuple[Stage, ...] = ()
        self._holders: tuple[Stage, ...] = ()
        self._on_success: tuple[Stage, ...] = ()
        self._refresh()
        self._budget = None if retry is None else self.state.retry_budget
        self.retrying = (
            None
            if retry is None
            else Retrying(retry, budget=self._budget, rng=rng or random.Random(), gate=self.name)
        )

        self.closed = False
        self._started = 0
        self._succeeded = 0
        self._failed = 0
        self._cancelled = 0
        self._timeouts = 0
        self._in_flight = 0
        self._fallbacks = 0
        self._rejected: dict[str, int] = {}
        # Latency of successful calls: a ring of the most recent, and the running sum and max.
        self._latencies = [0.0] * LATENCY_RING
        self._latency_sum = 0.0
        self._latency_max = 0.0

    def _refresh(self) -> None:
        """Take the state's stages (again: they changed), then the kernel's observers."""
        self._base = self.state.stages
        stages = self._stages = self._base + self._observers
        self._holders = _holders_of(stages)
        self._on_success = tuple(stage for stage in stages if stage.after_success)
        # A gate with no policy at all skips the deadline and retry layer: its calls go
        # straight to one attempt (an enclosing deadline is enforced by its own gate).
        bare = not stages and self._retry is None and self.timeout is None and self.hedger is None
        self._enter = Kernel.attempt if bare else Kernel._execute
        self._timed = not bare

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
        cache = self.cache
        # Built before the call is counted or can fall back: a key that cannot be built is a
        # programming error (say, unserializable arguments) and must surface as such.
        key = None if cache is None else cache.key_for(call.fn, call.args, call.kwargs)
        loop = asyncio.get_running_loop()
        read = self._read if loop is self._loop else self._reader()
        start = call.start = call.began = read()
        fn = call.fn
        if type(fn) is FunctionType and fn.__code__.co_flags & _CO_COROUTINE:
            call.kind = None  # the common case of `call_kind`, without the call
        else:
            call.kind = call_kind(fn)
        self._started += 1
        try:
            if key is None:
                result = await self._enter(self, call)
            else:
                assert cache is not None
                # A miss runs the pipeline once for every identical call in flight, starting
                # when that shared execution starts.
                result = await cache.run_keyed(key, functools.partial(self._execute_anew, call))
        except BaseException as exc:
            self._count_error(exc)
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
        read = self._reader()
        start = read()
        try:
            value = await self.run(call, fallback)
        except Exception as exc:
            return Err(exc, attempts=call.attempts, elapsed=read() - start)
        return Ok(value, attempts=call.attempts, elapsed=read() - start)

    def _execute_anew(self, call: Call) -> Any:
        call.start = call.began = self._reader()()
        return self._execute(call)

    async def _execute(self, call: Call) -> Any:
        """The deadline, then the retry loop around attempts."""
        outer = DEADLINE.get()
        deadline = outer
        total = self._total_timeout
        if total is not None:
            own = call.start + total
            if deadline is None or own < deadline:
                deadline = own
        context_token = None
        if deadline is not None:
            if deadline <= call.start:
                self._timeouts += 1
                message = f"gate {self.name!r}: the deadline has already passed"
                raise DeadlineExceeded(message, gate=self.name, timeout=0.0)
            call.deadline = deadline
            if deadline != outer:
                context_token = DEADLINE.set(deadline)
        try:
            retrying = self.retrying
            retry_budget = self._budget
            if retry_budget is not None:
                retry_budget.deposit(call.start)
            while True:
                try:
                    return await self._try(self, call)
                except Exception as exc:
                    if retrying is None:
                        raise
                    read = self._reader()
                    delay = retrying.after_failure(call, exc, call.attempts, call.began, read())
                    if delay is None:
                        raise
                # Sleep outside the except block: nothing is held (no permit, no rate slot)
                # and a cancellation here is not chained to the error being retried.
                self.guard(call)
                await self.clock.sleep(delay)
                call.attempts += 1
                call.began = read()
        except BaseException as exc:
            expiry = call.expiry
            if expiry is None:
                raise
            call.expiry = None
            self._total_timers.disarm(expiry)
            if not (expiry.expired(expiry.task) and isinstance(exc, asyncio.CancelledError)):
                raise
            self._timeouts += 1
            assert deadline is not None  # only a call with a deadline arms its timer
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
            expiry = call.expiry
            if expiry is not None:
                call.expiry = None
                self._total_timers.disarm(expiry)
                expiry.expired(expiry.task)  # fired as the call ended: the result stands
            if context_token is not None:
                DEADLINE.reset(context_token)

    def guard(self, call: Call) -> None:
        """Arm the call's deadline timer on the current task, unless it is armed already or
        there is no deadline. Armed lazily: only once something may outlast the deadline (a
        wait, a backoff, hedging, or an attempt without an earlier timer of its own), so a
        call that needs none of these never pays for the timer."""
        deadline = call.deadline
        if deadline is None or call.expiry is not None:
            return
        loop = asyncio.get_running_loop()
        when = self._loop_time(deadline, loop)
        call.expiry = self._total_timers.arm(loop, when, _current_task())

    def _attempt_expired(self, expiry: Expiry) -> None:
        # The attempt timer fired: if the call swallows the cancellation and goes on, only
        # the deadline can still stop it.
        call = expiry.owner
        if isinstance(call, Call) and call.deadline is not None and call.expiry is None:
            loop = asyncio.get_running_loop()
            when = self._loop_time(call.deadline, loop)
            call.expiry = self._total_timers.arm(loop, when, expiry.task)

    # ------------------------------------------------------------------ one attempt
    async def attempt(self, call: Call) -> Any:
        """One try: the stages admit it, the call runs under its attempt timeout, the stages
        record how it ended. It begins at ``call.began``; the clock is read again only after
        a wait."""
        loop = asyncio.get_running_loop()
        read = self._read if loop is self._loop else self._reader()
        if self.state.stages is not self._base:
            self._refresh()
        stages = self._stages
        started = call.began
        if stages:
            waiting = None
            try:
                for stage in stages:
                    step = stage.before(call, started)
                    if step is not None:
                        waiting = stage  # it took the attempt in: a failed wait is its to undo
                        self.guard(call)
                        await _perform(step, self.clock)
                        started = read()
            except StoreUnavailable as exc:
                self._abort(call, stages, _entered(stages, stage, waiting), exc)
                stages = await self._fail_over(call, exc)
                started = read()
            except BaseException as exc:
                self._abort(call, stages, _entered(stages, stage, waiting), exc)
                raise
        call.started = started
        holders = self._holders if stages is self._stages else _holders_of(stages)
        self._in_flight += 1
        expiry = None
        if self._timed:
            limit = self._attempt_timeout
            deadline = call.deadline
            if limit is not None and (deadline is None or started + limit < deadline):
                when = started + limit
                if not self._loop_clock:
                    when = self._loop_time(when, loop)
                task = asyncio.current_task(loop)
                assert task is not None  # gates always run inside a task
                expiry = self._attempt_timers.arm(loop, when, task, call)
            elif deadline is not None:
                self.guard(call)  # no earlier timer of its own: the deadline bounds the call
        try:
            kind = call.kind
            if kind is None:  # a coroutine function: awaited right here, on the loop
                try:
                    result = await call.fn(*call.args, **call.kwargs)
                finally:
                    self._in_flight -= 1
                    for holder in holders:
                        holder.free(call)
            else:
                done = functools.partial(self._work_done, call, holders)
                result = await self.executors.run(kind, call.fn, call.args, call.kwargs, done)
        except BaseException as exc:
            error = self._timed_out(expiry, exc)
            self._record(call, stages, error, read())
            if error is exc:
                raise
            raise error from exc
        if expiry is not None:
            self._attempt_timers.disarm(expiry)
            if expiry.fired:
                expiry.expired(expiry.task)  # fired as the call finished: the result stands
        on_success = self._on_success if stages is self._stages else stages
        if on_success:
            call.error = None
            call.result = result
            ended = read()
            for stage in on_success:
                stage.after(call, ended)
        return result

    def _timed_out(self, expiry: Expiry | None, error: BaseException) -> BaseException:
        """The error an attempt ended with: an `AttemptTimeout` if its own timer cut it short."""
        if expiry is None:
            return error
        self._attempt_timers.disarm(expiry)
        # `expired` withdraws the timer's cancellation: called whenever the timer fired.
        if not (expiry.fired and expiry.expired(expiry.task)):
            return error
        if not isinstance(error, asyncio.CancelledError):
            return error
        limit = self._attempt_timeout
        assert limit is not None  # an attempt timer was armed
        self._timeouts += 1
        return AttemptTimeout(
            f"gate {self.name!r}: attempt took longer than {limit:g}s",
            gate=self.name,
            timeout=limit,
        )

    def _record(
        self, call: Call, stages: tuple[Stage, ...], error: BaseException, now: float
    ) -> None:
        """A started attempt failed: read the signals its error carries, tell every stage."""
        call.error = error
        call.overloaded = False
        call.retry_after = None
        if isinstance(error, Exception):
            call.overloaded = bool(getattr(error, "overloaded", False))
            retry_after = getattr(error, "retry_after", None)
            if (
                isinstance(retry_after, int | float)
                and not isinstance(retry_after, bool)
                and math.isfinite(retry_after)
                and retry_after >= 0
            ):
                call.retry_after = float(retry_after)
        for stage in stages:
            stage.after(call, now)

    def _abort(
        self, call: Call, stages: tuple[Stage, ...], entered: int, error: BaseException
    ) -> None:
        """Admission stopped: the stages that took the attempt in give back what they booked."""
        call.started = None
        call.error = error
        now = self._reader()()
        for stage in stages[:entered]:
            if stage.holds:
                stage.free(call)
            stage.after(call, now)

    async def _fail_over(self, call: Call, cause: StoreUnavailable) -> tuple[Stage, ...]:
        """The state store is unreachable: refuse (fail closed) or admit on local state."""
        state = self.state
        if state.fail == "closed":
            raise RejectedError(
                f"gate {self.name!r}: its shared state cannot be reached ({cause}) and the "
                "store fails closed",
                gate=self.name,
            ) from cause
        stages = state.fallback() + self._observers
        read = self._reader()
        entered = 0
        try:
            for stage in stages:
                step = stage.before(call, read())
                entered += 1
                if step is not None:
                    self.guard(call)
                    await _perform(step, self.clock)
        except BaseException as exc:
            self._abort(call, stages, entered, exc)
            raise
        return stages

    def _work_done(self, call: Call, holders: tuple[Stage, ...]) -> None:
        """The offloaded work of the attempt is over: the worker is free."""
        self._in_flight -= 1
        for holder in holders:
            holder.free(call)

    def _reader(self) -> Callable[[], float]:
        """How to read the gate's clock on the running loop (see `sluice._clock.reader`)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._read = reader(self.clock, loop)
        return self._read

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
            # Calls inside `run`: started and not yet counted as ended (a refusal of a closed
            # gate is counted without having started).
            active=self._started
            - self._succeeded
            - self._failed
            - self._cancelled
            - sum(self._rejected.values())
            + self._rejected.get("closed", 0),
            in_flight=self._in_flight,
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

    def _loop_time(self, when: float, loop: asyncio.AbstractEventLoop) -> float:
        """``when`` (gate clock) on the loop's clock, where timers are armed."""
        if self._loop_clock:
            return when
        return loop.time() + (when - self.clock.now())


async def _perform(step: Instruction, clock: Clock) -> None:
    """Carry out a stage's instruction: sleep, or await and carry out what that returns."""
    while step is not None:
        if isinstance(step, int | float):
            await clock.sleep(step)
            return
        step = await step


def _entered(stages: tuple[Stage, ...], failed: Stage, waiting: Stage | None) -> int:
    """How many stages took the attempt in, when admission stopped at ``failed``: those before
    it, and ``failed`` itself if it was its wait that stopped (not its ``before``)."""
    position = stages.index(failed)
    return position + 1 if failed is waiting else position


def _holders_of(stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
    return tuple(stage for stage in stages if stage.holds)


def _weak(method: Callable[[Expiry], None]) -> Callable[[Expiry], None]:
    """``method``, held weakly: a queue the kernel owns must not keep the kernel alive (no
    reference cycle, so an unused gate is freed at once, its worker threads with it)."""
    ref = weakref.WeakMethod(method)

    def call(expiry: Expiry) -> None:
        bound = ref()
        if bound is not None:
            bound(expiry)

    return call


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

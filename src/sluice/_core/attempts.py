"""One attempt of a call: the stages admit it, it runs under its timeout, they record how it
ended.

`Attempts` asks each stage in turn and carries out what it is told (see `sluice._core.stage`):
go on, sleep, wait for what it returns, or stop. Once every stage said go, the call runs where
its kind says (awaited on the loop, or on an executor) under the attempt timer; then the stages
record the outcome, and those holding something (a permit) get it back when the work is really
over. The attempt timers share one FIFO queue (`sluice._core.timers`): every one has the same
length, so they expire in the order they started.

    attempts = Attempts(name="llm", clock=reader, state=state, executors=executors,
                        timeout=30.0, deadlines=deadlines)
    result = await attempts.attempt(call)        # call.began: when this attempt begins
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
from collections.abc import Callable
from contextvars import Token
from typing import Any

from .._classify import ErrorInfo, classify_error
from .._clock import ClockReader, LoopClock
from .._degraded import degraded
from .._errors import AttemptTimeout, RejectedError
from .._executors import AWAIT_RESULT, HANDED, THREAD, Executors, Handoff, unlearn
from .call import Call
from .deadlines import Deadlines
from .enclosing import ENCLOSING
from .stage import Instruction, Stage
from .state import GateState, StoreUnavailable
from .timers import DeadlineQueue, Expiry

__all__ = ["Attempts"]

_DEGRADED_EVERY = 60.0  # seconds between two reports of running on local state
_enclosing = ENCLOSING.get
_enter = ENCLOSING.set


class Attempts:
    """Runs the attempts of one gate's calls, and counts those running and those timed out."""

    def __init__(
        self,
        *,
        name: str,
        clock: ClockReader,
        state: GateState,
        executors: Executors,
        timeout: float | None,
        deadlines: Deadlines,
        observers: tuple[Stage, ...] = (),
        classify: Callable[[BaseException], ErrorInfo] = classify_error,
    ) -> None:
        self.name = name
        self._classify = classify
        self._clock = clock
        # With the loop's own clock, deadlines are loop times already and need no conversion.
        self._loop_clock = type(clock.clock) is LoopClock
        self.state = state
        self.executors = executors
        self._limit = timeout
        self._deadlines = deadlines
        self._observers = observers
        self.timers = DeadlineQueue(on_fire=deadlines.after_attempt_timeout)
        self.in_flight = 0  # attempts running now (for a thread: until the thread is free)
        self.timeouts = 0  # attempts cut short by their own timer
        self._failed_over_at = -math.inf  # when a fail-over to local state was last reported
        self._base: tuple[Stage, ...] = ()
        self._stages: tuple[Stage, ...] = ()
        self._admitting: tuple[Stage, ...] = ()
        self._holders: tuple[Stage, ...] = ()
        self._on_success: tuple[Stage, ...] = ()
        self._refresh()

    def _refresh(self) -> None:
        """Take the state's stages (again: they changed), then the observers."""
        self._base = self.state.stages
        stages = self._stages = self._base + self._observers
        self._admitting = _admitting(stages)
        self._holders = _holders_of(stages)
        self._on_success = tuple(stage for stage in stages if stage.after_success)

    def guard(self, call: Call) -> None:
        """Make the call's deadline cancel the current task (see `Deadlines.guard`)."""
        self._deadlines.guard(call)

    async def attempt(self, call: Call) -> Any:
        """The attempt ``call`` is at: it begins at ``call.began``; the clock is read again
        only after a wait."""
        loop = asyncio.get_running_loop()
        clock = self._clock
        read = clock.read if loop is clock.loop else clock.on(loop)
        if self.state.stages is not self._base:
            self._refresh()
        stages = self._stages
        admitting = self._admitting
        started = call.began
        while admitting:
            waiting = None
            try:
                for stage in admitting:
                    step = stage.before(call, started)
                    if step is not None:
                        waiting = stage  # it took the attempt in: a failed wait is its to undo
                        self._deadlines.guard(call)
                        await _perform(step, clock)
                        started = read()
                break
            except StoreUnavailable as exc:
                self._abort(call, admitting, _entered(admitting, stage, waiting), exc)
                if stages is not self._stages:
                    raise  # the local fallback itself: nothing further to fall back on
                stages = self._fail_over(exc)  # admission starts over on local state
                admitting = _admitting(stages)
                started = read()
            except BaseException as exc:
                self._abort(call, admitting, _entered(admitting, stage, waiting), exc)
                raise
        call.started = started
        holders = self._holders if stages is self._stages else _holders_of(stages)
        self.in_flight += 1
        expiry = None
        limit = self._limit if call.timeout is None else call.timeout.attempt
        deadline = call.deadline
        if limit is not None and (deadline is None or started + limit < deadline):
            task = asyncio.current_task(loop)
            assert task is not None  # gates always run inside a task
            when = started + limit
            if not self._loop_clock:
                when = clock.loop_time(when, loop)
            expiry = self.timers.arm(loop, when, task, call)
        elif deadline is not None:
            self._deadlines.guard(call)  # no earlier timer of its own: the deadline bounds it
        # Code running under a held permit is marked, so a call it makes on this gate does not
        # queue behind that permit (tasks and threads it starts inherit the mark).
        if holders:
            call.outer = _enclosing()  # `enclosing.enter`, inlined: it runs on every attempt
            scope: Token[Call | None] | None = _enter(call)
        else:
            scope = None
        try:
            kind = call.kind
            if kind is None:  # a coroutine function: awaited right here, on the loop
                try:
                    result = await call.fn(*call.args, **call.kwargs)
                finally:
                    self.in_flight -= 1
                    for holder in holders:
                        holder.free(call)
            elif kind is AWAIT_RESULT:
                result = await self._call_on_loop(call, holders)
            elif kind is THREAD:
                result = await self._call_on_thread(call, holders)
            else:
                done = functools.partial(self._work_done, call, holders)
                result = await self.executors.run(kind, call.fn, call.args, call.kwargs, done)
        except BaseException as exc:
            error = self._timed_out(expiry, exc, limit)
            self._record(call, stages, error, read())
            if error is exc:
                raise
            raise error from exc
        finally:
            if scope is not None:
                ENCLOSING.reset(scope)
        if expiry is not None:
            self.timers.disarm(expiry)
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

    def _timed_out(
        self, expiry: Expiry | None, error: BaseException, limit: float | None
    ) -> BaseException:
        """The error an attempt ended with: an `AttemptTimeout` if its own timer cut it short."""
        if expiry is None:
            return error
        self.timers.disarm(expiry)
        # `expired` withdraws the timer's cancellation: called whenever the timer fired.
        if not (expiry.fired and expiry.expired(expiry.task)):
            return error
        if not isinstance(error, asyncio.CancelledError):
            return error
        assert limit is not None  # an attempt timer was armed
        self.timeouts += 1
        message = f"gate {self.name!r}: attempt took longer than {limit:g}s"
        return AttemptTimeout(message, gate=self.name, timeout=limit)

    def _record(
        self, call: Call, stages: tuple[Stage, ...], error: BaseException, now: float
    ) -> None:
        """A started attempt failed: classify its error once, tell every stage.

        A gate's own classification that fails is a bug to surface: the stages still record
        the attempt (by the default classification), then its error is raised."""
        call.error = error
        bug = None
        try:
            info = self._classify(error)
        except Exception as exc:
            info, bug = classify_error(error), exc
        call.info = info
        for stage in stages:
            stage.after(call, now)
        if bug is not None:
            raise bug from error

    def _abort(
        self, call: Call, admitting: tuple[Stage, ...], entered: int, error: BaseException
    ) -> None:
        """Admission stopped: the stages that took the attempt in give back what they booked
        (those that do not admit have nothing to give back)."""
        call.started = None
        call.error = error
        call.info = None
        now = self._clock.now()
        for stage in admitting[:entered]:
            if stage.holds:
                stage.free(call)
            stage.after(call, now)

    def _fail_over(self, cause: StoreUnavailable) -> tuple[Stage, ...]:
        """The state store is unreachable: refuse (fail closed), or the stages on local state
        to admit the attempt with (fail open), reported once a minute."""
        state = self.state
        if state.fail == "closed":
            raise RejectedError(
                f"gate {self.name!r}: its shared state cannot be reached ({cause}) and the "
                "store fails closed",
                gate=self.name,
            ) from cause
        now = self._clock.now()
        if now - self._failed_over_at >= _DEGRADED_EVERY:
            self._failed_over_at = now
            degraded(
                f"gate {self.name!r}",
                f"its shared state cannot be reached ({cause}); admitting calls on this "
                "process's own limits until it can",
            )
        return state.fallback() + self._observers

    async def _call_on_loop(self, call: Call, holders: tuple[Stage, ...]) -> Any:
        """A callable that wraps an async function: called here, its result awaited."""
        try:
            result = call.fn(*call.args, **call.kwargs)
            if inspect.isawaitable(result):
                return await result
            unlearn(call.fn)  # it was not async after all
            return result
        finally:
            self._work_done(call, holders)

    async def _call_on_thread(self, call: Call, holders: tuple[Stage, ...]) -> Any:
        """A plain callable, on a thread; if it gives back an awaitable, that is awaited here
        before what the call holds is given back."""
        handoff = Handoff(
            call.fn,
            call.args,
            call.kwargs,
            release=functools.partial(self._work_done, call, holders),
        )
        try:
            result = await self.executors.run(THREAD, handoff.run, (), {}, handoff.worker_free)
        except BaseException:
            handoff.abandon()
            raise
        if result is HANDED:
            return await handoff.awaited()
        return result

    def _work_done(self, call: Call, holders: tuple[Stage, ...]) -> None:
        """The attempt's work is over (for offloaded work: the worker is free)."""
        self.in_flight -= 1
        for holder in holders:
            holder.free(call)


async def _perform(step: Instruction, clock: ClockReader) -> None:
    """Carry out a stage's instruction: sleep, or await and carry out what that returns."""
    while step is not None:
        if isinstance(step, int | float):
            await clock.clock.sleep(step)
            return
        step = await step


def _entered(stages: tuple[Stage, ...], failed: Stage, waiting: Stage | None) -> int:
    """How many stages took the attempt in, when admission stopped at ``failed``: those before
    it, and ``failed`` itself if it was its wait that stopped (not its ``before``)."""
    position = stages.index(failed)
    return position + 1 if failed is waiting else position


def _admitting(stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
    return tuple(stage for stage in stages if stage.admits)


def _holders_of(stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
    return tuple(stage for stage in stages if stage.holds)

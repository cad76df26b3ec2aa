"""The timers that enforce one gate's call deadlines.

A call's deadline is its start plus the gate's total budget, or an enclosing call's deadline
if that comes first (see `sluice._core.deadline`). Its timer is armed lazily: only once
something may outlast the deadline (a wait for a permit or a rate slot, a backoff sleep,
hedging, an attempt without an earlier timer of its own, or an attempt timer that fired on a
call that may not stop). A call that needs none of these, the common case when an attempt
timeout is set, never pays for it. All of a gate's deadline timers share one FIFO queue
(`sluice._core.timers`).

    deadlines.guard(call)                        # before anything that may wait
    replacement = deadlines.settle(call, error)  # when the call ends: DeadlineExceeded or None
"""

from __future__ import annotations

import asyncio
from typing import Any

from .._clock import ClockReader
from .._errors import DeadlineExceeded
from ..policies.retry import attach_history
from .call import Call
from .timers import DeadlineQueue, Expiry

__all__ = ["Deadlines"]


class Deadlines:
    """The deadline timers of one gate's calls (on one FIFO queue: every call's deadline is
    its start plus the same total budget, unless an enclosing deadline comes first)."""

    __slots__ = ("_clock", "_gate", "_queue", "expired")

    def __init__(self, *, gate: str, clock: ClockReader) -> None:
        self._gate = gate
        self._clock = clock
        self._queue = DeadlineQueue()
        self.expired = 0  # deadlines that cut a call short (statistics count them as timeouts)

    def guard(self, call: Call, task: asyncio.Task[Any] | None = None) -> None:
        """Make ``call``'s deadline cancel ``task`` (default: the current one) when it passes,
        unless its timer is armed already or it has no deadline."""
        deadline = call.deadline
        if deadline is None or call.expiry is not None:
            return
        loop = asyncio.get_running_loop()
        if task is None:
            task = asyncio.current_task(loop)
            if task is None:  # pragma: no cover - gates always run inside a task
                raise RuntimeError("sluice gates must be awaited from inside an asyncio task")
        call.expiry = self._queue.arm(loop, self._clock.loop_time(deadline, loop), task)

    def after_attempt_timeout(self, expiry: Expiry) -> None:
        """An attempt timer fired: if its call swallows the cancellation and goes on, only the
        deadline can still stop it (a `DeadlineQueue` ``on_fire`` hook)."""
        call = expiry.owner
        if isinstance(call, Call):
            self.guard(call, expiry.task)

    def settle(self, call: Call, error: BaseException | None) -> BaseException | None:
        """``call`` ended (with ``error``, or ``None``): disarm its timer. The error to raise
        instead, a `DeadlineExceeded` with the attempt history, when the deadline cut it short;
        else ``None``."""
        expiry = call.expiry
        if expiry is None:
            return None
        call.expiry = None
        self._queue.disarm(expiry)
        # `expired` withdraws the timer's cancellation: called whenever the timer fired.
        if not (expiry.fired and expiry.expired(expiry.task)):
            return None
        if not isinstance(error, asyncio.CancelledError):
            return None  # it fired as the call ended: the outcome stands
        self.expired += 1
        assert call.deadline is not None  # only a call with a deadline arms its timer
        budget = call.deadline - call.start
        exceeded = DeadlineExceeded(
            f"gate {self._gate!r}: deadline of {budget:.3g}s passed",
            gate=self._gate,
            timeout=budget,
        )
        if call.history:
            attach_history(exceeded, self._gate, call.history, "the deadline passed")
        return exceeded

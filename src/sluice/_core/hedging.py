"""Hedged attempts: race a slow attempt against extra ones started after a delay.

A `Hedger` runs in place of one attempt (inside the retry loop); every attempt it starts goes
through the stages on its own (breaker, rate, concurrency). All attempts are child tasks owned
by `Hedger.attempt`: whatever happens, none outlives it. Losers are cancelled, and a
cancellation is neutral to the breaker. Extra attempts draw on a budget of their own, so
hedging trims the latency tail without multiplying load.

    hedger = Hedger(Hedge(after=0.5), delay=HedgeDelay(hedge), budget=budget, clock=clock)
    result = await hedger.attempt(attempts, call)
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol

from .._clock import Clock
from ..policies.hedge import Hedge
from .call import Call
from .state import BudgetState

__all__ = ["Attempter", "HedgeDelaySource", "Hedger"]


class Attempter(Protocol):
    """What runs one plain attempt of a call (`sluice._core.attempts.Attempts`)."""

    def attempt(self, call: Call) -> Coroutine[Any, Any, Any]:
        """Run the attempt ``call`` is at (``call.attempts``, begun at ``call.began``)."""

    def guard(self, call: Call) -> None:
        """Make the call's deadline cancel the current task."""


class HedgeDelaySource(Protocol):
    """Where the hedge delay comes from (fixed, or learned from attempt latencies)."""

    def current(self) -> float | None:
        """Seconds to wait before hedging, or ``None`` when too little is known yet."""


class Hedger:
    """Runs one attempt hedged by up to ``max_extra`` more; counts hedges and their wins."""

    __slots__ = ("_clock", "_delay", "_hedge", "budget", "hedges", "wins")

    def __init__(
        self, hedge: Hedge, *, delay: HedgeDelaySource, budget: BudgetState, clock: Clock
    ) -> None:
        self._hedge = hedge
        self._delay = delay
        self._clock = clock
        self.budget = budget
        self.hedges = 0
        self.wins = 0

    async def attempt(self, attempts: Attempter, call: Call) -> Any:
        """Run ``attempts.attempt(call)``, hedged; return the first success."""
        plain = attempts.attempt
        delay = self._delay.current()
        if delay is None:
            return await plain(call)
        now = call.began
        budget = self.budget
        budget.deposit(now)
        attempts.guard(call)  # this task waits for the attempts: the deadline must reach it
        clock = self._clock
        deadline = call.deadline
        loop = asyncio.get_running_loop()
        primary = loop.create_task(plain(call))
        tasks = [primary]
        pending = {primary}
        extra = 0
        next_hedge: float | None = now + delay
        last_error: BaseException | None = None
        try:
            while True:
                timeout = None if next_hedge is None else max(0.0, next_hedge - clock.now())
                done, pending = await asyncio.wait(
                    pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    error = task.exception()
                    if error is None:
                        if task is not primary:
                            self.wins += 1
                        return task.result()
                    last_error = error
                if not done and next_hedge is not None:
                    current = clock.now()
                    if (deadline is None or current < deadline) and budget.try_withdraw(current):
                        extra_call = call.branch()
                        extra_call.began = current
                        task = loop.create_task(plain(extra_call))
                        tasks.append(task)
                        pending.add(task)
                        extra += 1
                        self.hedges += 1
                        next_hedge = current + delay if extra < self._hedge.max_extra else None
                    else:
                        next_hedge = None  # no budget (or time) left: wait for what runs
                if not pending:
                    assert last_error is not None
                    raise last_error
        finally:
            losers = [task for task in tasks if not task.done()]
            for task in losers:
                task.cancel()
            if losers:
                await asyncio.wait(losers)
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: a loser's error must not be reported as lost

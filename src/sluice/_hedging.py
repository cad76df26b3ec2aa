"""Hedged attempts: race a slow attempt against extra ones started after a delay.

Runs in place of one attempt (inside the retry loop, outside breaker, rate and concurrency,
which every extra attempt goes through on its own). All attempts are child tasks owned by this
function: whatever happens, none outlives it. Losers are cancelled, and a cancellation is
neutral to the circuit breaker.

    result = await hedged_attempt(engine, fn, args, kwargs, tokens, deadline, now)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._engine import Engine

__all__ = ["hedged_attempt"]


async def hedged_attempt(
    engine: Engine,
    fn: Callable[..., Any],
    args: Any,
    kwargs: Any,
    tokens: float | None,
    deadline: float | None,
    now: float,
) -> Any:
    """Run one attempt, hedged by up to ``max_extra`` more, and return the first success."""
    hedge = engine._hedge
    delay = engine._hedge_delay.current() if engine._hedge_delay is not None else None
    budget = engine._hedge_budget
    if hedge is None or delay is None or budget is None:
        return await engine._attempt(fn, args, kwargs, tokens, deadline, now)
    budget.deposit(now)
    clock = engine._clock
    loop = asyncio.get_running_loop()
    primary = loop.create_task(engine._attempt(fn, args, kwargs, tokens, deadline, now))
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
                        engine._hedge_wins += 1
                    return task.result()
                last_error = error
            if not done and next_hedge is not None:
                current = clock.now()
                if (deadline is None or current < deadline) and budget.try_withdraw(current):
                    task = loop.create_task(
                        engine._attempt(fn, args, kwargs, tokens, deadline, current)
                    )
                    tasks.append(task)
                    pending.add(task)
                    extra += 1
                    engine._hedges += 1
                    next_hedge = current + delay if extra < hedge.max_extra else None
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

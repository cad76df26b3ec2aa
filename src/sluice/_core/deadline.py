"""The deadline of the call being run, for every gate and function below it.

A gate with a total budget (or inside a fan-out with a deadline) stores its absolute deadline
in a `ContextVar`: a gate called inside another gate's call sees the outer deadline and never
waits past it, and any code can read what is left to pass it on to an SDK or a peer::

    async with asyncio.timeout(sluice.time_remaining()):   # None means "no deadline"
        await sdk_call()

The timers that enforce a gate's deadlines are `sluice._core.deadlines.Deadlines`.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar

__all__ = ["DEADLINE", "current_deadline", "time_remaining"]

DEADLINE: ContextVar[float | None] = ContextVar("sluice_deadline", default=None)
"""The absolute deadline (gate clock time) of the enclosing gate call, or ``None``."""


def current_deadline() -> float | None:
    """The absolute deadline (gate clock time) of the enclosing gate call, or ``None``."""
    return DEADLINE.get()


def time_remaining() -> float | None:
    """Seconds left before the enclosing deadline (>= 0), or ``None`` when there is none.

    Reads the running loop's clock, the default clock of every gate.
    """
    deadline = DEADLINE.get()
    if deadline is None:
        return None
    return max(0.0, deadline - asyncio.get_running_loop().time())

"""Where policies read the time and sleep.

Nothing inside a policy calls `time.monotonic()` or `asyncio.sleep()` directly: it asks a
`Clock`. The default, `LoopClock`, reads the running event loop's clock, so a loop with virtual
time (see `sluice.testing`) makes every timeout, backoff, rate limit and breaker window run on
virtual time without any change to the code under test.

    clock = LoopClock()
    start = clock.now()
    await clock.sleep(0.5)          # clock.now() - start >= 0.5
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ClockReader", "LoopClock", "Reader", "now_anywhere", "reader"]

Reader = Callable[[], float]
"""How hot code reads a clock: a function of no argument returning seconds (see `reader`)."""


@runtime_checkable
class Clock(Protocol):
    """A monotonic clock in seconds, and a way to wait on it."""

    def now(self) -> float:
        """Current time in seconds; only differences are meaningful."""

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` of this clock's time."""


class LoopClock:
    """The running event loop's clock (`loop.time()`), and `asyncio.sleep`.

    Sharing the loop's time base matters: `asyncio.timeout` schedules on it, so deadlines
    computed from this clock and timers armed on the loop agree exactly.
    """

    __slots__ = ()

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "LoopClock()"


def now_anywhere(clock: Clock) -> float:
    """``clock.now()``, or the monotonic clock when no event loop runs (statistics taken
    from synchronous code; the default loop's clock is the monotonic clock too)."""
    try:
        return clock.now()
    except RuntimeError:
        return time.monotonic()


def reader(clock: Clock, loop: asyncio.AbstractEventLoop) -> Reader:
    """The most direct way to read ``clock`` while ``loop`` runs: the standard loops' clock
    is `time.monotonic` itself, so a gate on the default clock reads it without the two
    Python calls in between (a gate reads its clock a few times per call)."""
    if type(clock) is not LoopClock:
        return clock.now
    if type(loop).time is asyncio.BaseEventLoop.time:
        return time.monotonic
    return loop.time


class ClockReader:
    """`reader` for one clock, decided again only when the running loop changes.

    Hot code reads it without a call in the common case::

        read = clock.read if loop is clock.loop else clock.on(loop)
    """

    __slots__ = ("clock", "loop", "read")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.loop: asyncio.AbstractEventLoop | None = None
        self.read: Reader = clock.now

    def on(self, loop: asyncio.AbstractEventLoop) -> Reader:
        """How to read the clock while ``loop`` runs."""
        if loop is not self.loop:
            self.loop = loop
            self.read = reader(self.clock, loop)
        return self.read

    def now(self) -> float:
        """The clock's time (inside a running loop)."""
        return self.on(asyncio.get_running_loop())()

    def loop_time(self, when: float, loop: asyncio.AbstractEventLoop) -> float:
        """``when`` (this clock's time) on ``loop``'s clock, where timers are armed."""
        if type(self.clock) is LoopClock:
            return when
        return loop.time() + (when - self.clock.now())

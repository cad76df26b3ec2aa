"""A clock that moves only when told to: for driving policy objects by hand in tests.

clock = ManualClock()
clock.advance(1.5)
assert clock.now() == 1.5
"""

from __future__ import annotations

import asyncio

__all__ = ["ManualClock"]


class ManualClock:
    """A clock that moves only when told to: for driving policies by hand in tests.

    ``sleep`` advances the clock by the requested amount and yields once, so code that sleeps
    on this clock sees exactly the time it asked for.
    """

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"advance(seconds=...) must be >= 0, got {seconds!r}")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self._now += max(0.0, seconds)
        await asyncio.sleep(0)

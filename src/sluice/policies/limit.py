"""Concurrency: at most ``limit`` calls in flight; the rest wait in arrival order, boundedly.

Waiting is bounded twice over, both optional: ``max_queue`` callers may wait (one more is
refused at once) and each waits at most ``max_wait`` seconds. Either overflow raises
`OverloadedError`, a rejection: the upstream never saw the call.

A released permit is handed straight to the oldest waiter, so a newcomer can never overtake
the queue. The limit may change at run time (`set_limit`), which adaptive concurrency uses.

    limiter = ConcurrencyLimiter(Concurrency(64, max_queue=1000, max_wait=5.0), gate="llm")
    await limiter.acquire()
    try: ... finally: limiter.release()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass

from .._errors import ConfigError, OverloadedError
from .._validate import check_int_at_least, check_optional_positive

__all__ = ["Concurrency", "ConcurrencyLimiter", "ConcurrencyStatistics"]


@dataclass(frozen=True, slots=True)
class Concurrency:
    """A fixed concurrency limit, with optional bounds on waiting.

    Gate(concurrency=64)                                   # shorthand
    Gate(concurrency=Concurrency(64, max_queue=500, max_wait=2.0))
    """

    limit: int
    max_queue: int | None = None
    max_wait: float | None = None

    def __post_init__(self) -> None:
        check_int_at_least("Concurrency", "limit", self.limit, 1)
        if self.max_queue is not None:
            check_int_at_least("Concurrency", "max_queue", self.max_queue, 0)
        wait = check_optional_positive("Concurrency", "max_wait", self.max_wait)
        object.__setattr__(self, "max_wait", wait)

    @classmethod
    def coerce(cls, value: Concurrency | int | None) -> Concurrency | None:
        """Accept the ``concurrency=`` shorthand: an int is the limit, ``None`` means unbounded."""
        if value is None or isinstance(value, Concurrency):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        raise ConfigError(
            "Gate(concurrency=...) must be an int >= 1, a sluice.Concurrency or None "
            f"(unbounded), got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class ConcurrencyStatistics:
    """Snapshot of a concurrency limiter."""

    limit: int
    in_flight: int
    waiting: int


class ConcurrencyLimiter:
    """Permits with FIFO hand-off, a bounded queue and a bounded wait."""

    __slots__ = ("_gate", "_in_flight", "_limit", "_max_queue", "_max_wait", "_waiters", "_waiting")

    def __init__(self, config: Concurrency, *, gate: str = "gate") -> None:
        self._gate = gate
        self._limit = config.limit
        self._max_queue = config.max_queue
        self._max_wait = config.max_wait
        self._in_flight = 0
        self._waiting = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return self._waiting

    def try_acquire(self) -> bool:
        """Take a permit if one is free and nobody is queued; never waits."""
        if self._in_flight < self._limit and not self._waiting:
            self._in_flight += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a permit, waiting in line if needed. Raises `OverloadedError` on overflow."""
        if self._in_flight < self._limit and not self._waiting:
            self._in_flight += 1
            return
        await self._wait()

    async def _wait(self) -> None:
        if self._max_queue is not None and self._waiting >= self._max_queue:
            raise OverloadedError(
                f"gate {self._gate!r}: {self._waiting} calls already wait for a permit "
                f"(max_queue={self._max_queue})",
                gate=self._gate,
                reason="queue_full",
            )
        loop = asyncio.get_running_loop()
        if self._waiters and self._waiters[0].get_loop() is not loop:
            raise RuntimeError(
                f"gate {self._gate!r} has callers waiting on another event loop; "
                "a gate serves one loop at a time (use gate.run_sync from other threads)"
            )
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self._waiting += 1
        timer = None
        if self._max_wait is not None:
            timer = loop.call_later(self._max_wait, self._expire, waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # The permit arrived just as we were cancelled: pass it on, do not leak it.
                self.release()
            else:
                self._waiting -= 1
                # release() may already have popped it and skipped it as done.
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _expire(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_exception(
                OverloadedError(
                    f"gate {self._gate!r}: no permit within max_wait={self._max_wait:g}s "
                    f"({self._in_flight} in flight, limit {self._limit})",
                    gate=self._gate,
                    reason="max_wait",
                )
            )

    def release(self) -> None:
        """Return a permit: hand it to the oldest live waiter, or free it."""
        if self._waiting and self._in_flight <= self._limit:
            waiters = self._waiters
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    self._waiting -= 1
                    waiter.set_result(None)
                    return
        self._in_flight -= 1

    def set_limit(self, limit: int) -> None:
        """Change the limit; a raise wakes waiters at once, a cut lets in-flight calls finish."""
        self._limit = max(1, int(limit))
        waiters = self._waiters
        while self._waiting and self._in_flight < self._limit and waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                self._waiting -= 1
                self._in_flight += 1
                waiter.set_result(None)

    def statistics(self) -> ConcurrencyStatistics:
        return ConcurrencyStatistics(
            limit=self._limit, in_flight=self._in_flight, waiting=self._waiting
        )

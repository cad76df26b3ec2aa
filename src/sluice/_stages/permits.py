"""Concurrency at run time: permits with FIFO hand-off, and the stage that takes them.

`ConcurrencyLimiter` holds the permits: at most ``limit`` in flight, the rest wait in arrival
order, boundedly (``max_queue`` waiters, ``max_wait`` seconds; either overflow raises
`OverloadedError`). A released permit goes straight to the oldest waiter, so a newcomer never
overtakes the queue. The limit may change at run time (`set_limit`).

The limiter is also the concurrency stage: ``before`` takes a permit (or returns the wait for
one), ``free`` gives it back when the work is really over (for a thread, when the thread is
free), and ``after`` feeds the attempt to the adaptive controller, when there is one, which
moves the limit. A call nested in a call of the same gate that finds no free permit runs on
its caller's instead of queueing behind it (see `sluice._stages.lending`).

    limiter = ConcurrencyLimiter(Concurrency(64, max_queue=1000, max_wait=5.0), gate="llm")
    await limiter.acquire()
    try: ... finally: limiter.release()
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Coroutine
from typing import Any

from .._core.call import Call
from .._errors import OverloadedError
from ..policies.adaptive import AdaptiveStatistics
from ..policies.limit import Concurrency, ConcurrencyStatistics
from .adaptive import AdaptiveLimit
from .lending import Loans, holder_above

__all__ = ["ConcurrencyLimiter"]


class ConcurrencyLimiter:
    """Permits with FIFO hand-off, a bounded queue and a bounded wait."""

    __slots__ = (
        "_adaptive",
        "_gate",
        "_in_flight",
        "_limit",
        "_loans",
        "_max_queue",
        "_max_wait",
        "_returned_at",
        "_stall_after",
        "_waiters",
        "_waiting",
        "after_success",
    )

    admits = True
    holds = True

    def __init__(
        self,
        config: Concurrency,
        *,
        gate: str = "gate",
        adaptive: AdaptiveLimit | None = None,
        stall_after: float | None = None,
    ) -> None:
        self._gate = gate
        # A caller in line gives up when no permit has come back for this long (the gate's
        # attempt timeout, see `_Stall`); a call's own timeout replaces it.
        self._stall_after = stall_after
        self._returned_at = -math.inf  # loop time a permit was last handed to a waiter
        self._adaptive = adaptive
        self.after_success = adaptive is not None
        self._limit = config.limit
        self._max_queue = config.max_queue
        self._max_wait = config.max_wait
        self._in_flight = 0
        self._waiting = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._loans = Loans(owner=self)

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def ceiling(self) -> int:
        """The most attempts that may ever run at once (an adaptive limit's maximum)."""
        adaptive = self._adaptive
        return self._limit if adaptive is None else int(adaptive.config.max)

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
        await self._wait(self._stall_after)

    async def _wait(self, stall_after: float | None) -> None:
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
        stall = None if stall_after is None else _Stall(self, waiter, stall_after)
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
            if stall is not None:
                stall.cancel()

    @property
    def returned_at(self) -> float:
        """Loop time a permit was last handed to a waiting caller."""
        return self._returned_at

    def stalled(self, waiter: asyncio.Future[None], seconds: float) -> None:
        """Fail ``waiter``: no permit came back for ``seconds``."""
        waiter.set_exception(
            OverloadedError(
                f"gate {self._gate!r}: no permit came back for {seconds:g}s, the attempt "
                f"timeout: all {self._in_flight} are held by work running longer than that. "
                "A thread stuck in a blocking call keeps its permit until the call returns: "
                "give such calls a timeout of their own (requests' timeout=, a socket timeout)",
                gate=self._gate,
                reason="stalled",
            )
        )

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
                    self._returned_at = waiter.get_loop().time()
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

    def adaptive_statistics(self) -> AdaptiveStatistics | None:
        return None if self._adaptive is None else self._adaptive.statistics()

    # ------------------------------------------------------------------ the stage
    def before(self, call: Call, now: float) -> Coroutine[Any, Any, None] | None:
        if self._in_flight < self._limit and not self._waiting:
            in_flight = self._in_flight = self._in_flight + 1
            call.permit = self
            call.lender = None
            call.load = in_flight  # this attempt included
            return None
        call.permit = None
        call.load = self._in_flight
        lender = holder_above(self)
        if lender is not None:  # a nested call: never queue behind its own caller
            return self._loans.borrow(call, lender)
        call.lender = None
        return self._queue(call)

    async def _queue(self, call: Call) -> None:
        # If this wait is cancelled, `_wait` passes a permit granted meanwhile on.
        own = call.timeout
        await self._wait(self._stall_after if own is None else own.attempt)
        call.permit = self
        call.load = self._in_flight

    def free(self, call: Call) -> None:
        if call.permit is not None:
            call.permit = None
            lender = call.lender
            if lender is not None:
                call.lender = None
                self._loans.give_back(lender)
            elif self._waiting:
                self.release()  # hand the permit to the oldest waiter
            else:
                self._in_flight -= 1

    def after(self, call: Call, now: float) -> None:
        adaptive = self._adaptive
        started = call.started
        if adaptive is None or started is None:
            return
        limit = adaptive.on_outcome(now, now - started, call.load, call.error, call.info)
        if limit is not None:
            self.set_limit(limit)


class _Stall:
    """Watches one caller in line: it fails once no permit has been handed to anyone for
    ``seconds`` since it queued. Permits held by live calls come back within their attempt
    timeout; only work that outlived it (a thread stuck in a blocking call, which keeps its
    permit until it returns) can hold them longer, and then the line would never move."""

    __slots__ = ("_handle", "_limiter", "_seconds", "_since", "_waiter")

    def __init__(
        self, limiter: ConcurrencyLimiter, waiter: asyncio.Future[None], seconds: float
    ) -> None:
        self._limiter = limiter
        self._waiter = waiter
        self._seconds = seconds
        loop = waiter.get_loop()
        self._since = loop.time()
        self._handle = loop.call_at(self._since + seconds, self._check)

    def _check(self) -> None:
        if self._waiter.done():
            return
        moved = max(self._since, self._limiter.returned_at)
        loop = self._waiter.get_loop()
        if loop.time() >= moved + self._seconds:
            self._limiter.stalled(self._waiter, self._seconds)
        else:
            self._handle = loop.call_at(moved + self._seconds, self._check)

    def cancel(self) -> None:
        self._handle.cancel()

"""Capacity: at most ``max_active`` requests in service and ``max_queue`` waiting, first come
first served; beyond that a request is turned away at once (the app answers 429 or 503).

    queue = ServerQueue(max_active=2, max_queue=10)
    if await queue.enter():
        try:
            ...                  # serve
        finally:
            queue.leave()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["ServerQueue"]


class ServerQueue:
    """The simulated service's capacity: a FIFO semaphore with a bounded wait queue;
    ``max_active=0`` means unlimited."""

    __slots__ = ("_waiters", "active", "max_active", "max_queue", "peak_active")

    def __init__(self, max_active: int, max_queue: int) -> None:
        self.max_active = max_active
        self.max_queue = max_queue
        self.active = 0
        self.peak_active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def enter(self) -> bool:
        """Take a slot, waiting in line if needed; False if the line is full."""
        if not self.max_active or (self.active < self.max_active and not self._waiters):
            self.active += 1
            if self.active > self.peak_active:
                self.peak_active = self.active
            return True
        if len(self._waiters) >= self.max_queue:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as we were cancelled: pass it on.
                self.leave()
            else:
                with contextlib.suppress(ValueError):  # leave() may have dropped it already
                    self._waiters.remove(waiter)
            raise
        return True

    def leave(self) -> None:
        """Give a slot back; the oldest waiter (if any) takes it over directly."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                # The slot moves to the waiter without ever being free, so a newcomer
                # cannot overtake the queue.
                waiter.set_result(None)
                return
        self.active -= 1

"""Call and attempt timers: one loop timer per gate and kind instead of one per call.

Every attempt timer of a gate has the same length, and so has every total-deadline timer, so
each kind of deadline arrives in the order its calls started. A FIFO queue with a single
`loop.call_at` armed for its head therefore does the work of one timer per call, in O(1) per
call, where asyncio's timer heap costs O(log n) Python comparisons per push with every
in-flight timer in the heap.

Expiry follows the protocol of `asyncio.timeout`: the timer cancels the task, and the code
awaiting the call uncancels it and converts the `CancelledError` into a timeout only if no
one else cancelled the task meanwhile (`Task.uncancel` counting).

    queue = DeadlineQueue()
    expiry = queue.arm(loop, when, task)         # queued, or on a private timer when it must be
    try: ... finally: queue.disarm(expiry)
    timed_out = expiry.expired(task)             # fired, and nobody else cancelled the task
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

__all__ = ["DeadlineQueue", "Expiry"]

# Rebuild the queue once finished entries are both numerous and the majority.
_COMPACT_AT = 64


class Expiry:
    """One deadline: cancels its task once when it passes."""

    __slots__ = ("cancelling", "done", "fired", "handle", "task", "when")

    def __init__(self, task: asyncio.Task[Any], when: float) -> None:
        self.task = task
        self.when = when
        self.cancelling = task.cancelling()
        self.fired = False
        self.done = False
        self.handle: asyncio.TimerHandle | None = None  # a private timer, when not queued

    def fire(self) -> None:
        if not self.done and not self.fired:
            self.fired = True
            self.task.cancel()

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """After the guarded code ended (with a `CancelledError` or not): whether this deadline
        fired. The task's own cancellation is withdrawn, and the deadline counts only if nobody
        else asked to cancel the task meanwhile (the protocol of `asyncio.timeout`)."""
        if not self.fired:
            return False
        return task.uncancel() <= self.cancelling


class DeadlineQueue:
    """Deadlines of one gate's running attempts, in start order, behind one loop timer."""

    __slots__ = ("_armed_for", "_entries", "_finished", "_handle", "_loop")

    def __init__(self) -> None:
        self._entries: deque[Expiry] = deque()
        self._finished = 0
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._entries) - self._finished

    def start(
        self, loop: asyncio.AbstractEventLoop, when: float, task: asyncio.Task[Any]
    ) -> Expiry | None:
        """Queue a deadline; ``None`` when it cannot be queued (another loop owns the queue, or
        the deadline is out of order) and the caller must arm its own timer."""
        if loop is not self._loop:
            if len(self) and self._loop is not None and not self._loop.is_closed():
                return None
            self._reset(loop)
        entries = self._entries
        if entries and when < entries[-1].when:
            return None
        expiry = Expiry(task, when)
        entries.append(expiry)
        if self._handle is None:
            self._arm(loop, when)
        return expiry

    def arm(self, loop: asyncio.AbstractEventLoop, when: float, task: asyncio.Task[Any]) -> Expiry:
        """A deadline for ``task`` at loop time ``when``: queued when it can be, else on a
        private loop timer (another loop owns the queue, or the deadline is out of order)."""
        expiry = self.start(loop, when, task)
        if expiry is None:
            expiry = Expiry(task, when)
            expiry.handle = loop.call_at(when, expiry.fire)
        return expiry

    def disarm(self, expiry: Expiry) -> None:
        """The guarded code ended: the deadline no longer matters (idempotent)."""
        handle = expiry.handle
        if handle is None:
            self.finish(expiry)
        else:
            handle.cancel()
            expiry.done = True

    def finish(self, expiry: Expiry) -> None:
        """The attempt ended (any way): its deadline no longer matters."""
        if expiry.done:
            return
        expiry.done = True
        if expiry.fired:
            return  # already removed by the timer
        self._finished += 1
        entries = self._entries
        while entries and entries[0].done:
            entries.popleft()
            self._finished -= 1
        # The timer stays armed even when nothing is left: deadlines only grow, so it is early
        # enough for whatever comes next, and re-arming per call is what this class avoids.
        if self._finished > _COMPACT_AT and self._finished * 2 > len(entries):
            self._entries = deque(e for e in entries if not e.done)
            self._finished = 0

    def _fire(self) -> None:
        self._handle = None
        loop = self._loop
        if loop is None:  # pragma: no cover - reset while the handle was pending
            return
        # The timer may run a hair before its own `when` (the loop's clock resolution): the
        # deadline it was armed for has passed by definition.
        now = max(loop.time(), self._armed_for)
        entries = self._entries
        while entries:
            head = entries[0]
            if head.done:
                entries.popleft()
                self._finished -= 1
            elif head.when <= now:
                entries.popleft()
                head.fire()
            else:
                break
        if entries:
            self._arm(loop, entries[0].when)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._armed_for = when
        self._handle = loop.call_at(when, self._fire)

    def _disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _reset(self, loop: asyncio.AbstractEventLoop) -> None:
        self._disarm()
        self._entries = deque()
        self._finished = 0
        self._loop = loop

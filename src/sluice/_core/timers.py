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
from collections.abc import Callable
from typing import Any

__all__ = ["DeadlineQueue", "Expiry"]

# Rebuild the queue once finished entries are both numerous and the majority.
_COMPACT_AT = 64

_new = object.__new__


class Expiry:
    """One deadline: cancels its task once when it passes. ``owner`` is whatever the code
    that armed it wants the queue's ``on_fire`` hook to see (the kernel: the call)."""

    __slots__ = ("cancelling", "done", "fired", "handle", "owner", "task", "when")

    def __init__(self, task: asyncio.Task[Any], when: float, owner: object = None) -> None:
        self.task = task
        self.when = when
        self.owner = owner
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
    """Deadlines of one gate's running calls or attempts, in start order, behind one loop
    timer. ``on_fire`` (optional) is called with each expiry right after it fired."""

    __slots__ = ("_armed_for", "_entries", "_finished", "_handle", "_loop", "on_fire")

    def __init__(self, on_fire: Callable[[Expiry], None] | None = None) -> None:
        self.on_fire = on_fire
        self._entries: deque[Expiry] = deque()
        self._finished = 0
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._entries) - self._finished

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        when: float,
        task: asyncio.Task[Any],
        owner: object = None,
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
        expiry = Expiry(task, when, owner)
        entries.append(expiry)
        if self._handle is None:
            self._arm(loop, when)
        return expiry

    def arm(
        self,
        loop: asyncio.AbstractEventLoop,
        when: float,
        task: asyncio.Task[Any],
        owner: object = None,
    ) -> Expiry:
        """A deadline for ``task`` at loop time ``when``: queued when it can be, else on a
        private loop timer (another loop owns the queue, or the deadline is out of order)."""
        # `Expiry(task, when, owner)` without the call to __init__: this runs on every attempt.
        expiry = _new(Expiry)
        expiry.task = task
        expiry.when = when
        expiry.owner = owner
        expiry.cancelling = task.cancelling()
        expiry.fired = expiry.done = False
        expiry.handle = None
        entries = self._entries
        if loop is self._loop:
            if not entries or when >= entries[-1].when:
                entries.append(expiry)
                if self._handle is None:
                    self._arm(loop, when)
                return expiry
        elif not len(self) or self._loop is None or self._loop.is_closed():
            self._reset(loop)
            self._entries.append(expiry)
            self._arm(loop, when)
            return expiry
        expiry.handle = loop.call_at(when, self._fire_one, expiry)
        return expiry

    def disarm(self, expiry: Expiry) -> None:
        """The guarded code ended (any way): its deadline no longer matters (idempotent)."""
        if expiry.done:
            return
        expiry.done = True
        handle = expiry.handle
        if handle is not None:
            handle.cancel()
            return
        if expiry.fired:
            return  # already removed by the timer
        entries = self._entries
        if entries and entries[0] is expiry:  # calls mostly end in the order they started
            entries.popleft()
            while entries and entries[0].done:
                entries.popleft()
                self._finished -= 1
            return
        self._finished += 1
        # The timer stays armed even when nothing is left: deadlines only grow, so it is early
        # enough for whatever comes next, and re-arming per call is what this class avoids.
        if self._finished > _COMPACT_AT and self._finished * 2 > len(entries):
            self._entries = deque(e for e in entries if not e.done)
            self._finished = 0

    def finish(self, expiry: Expiry) -> None:
        """A queued deadline no longer matters (`disarm`, for entries made by `start`)."""
        self.disarm(expiry)

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
                self._fire_one(head)
            else:
                break
        if entries:
            self._arm(loop, entries[0].when)

    def _fire_one(self, expiry: Expiry) -> None:
        if expiry.done or expiry.fired:
            return
        expiry.fire()
        if self.on_fire is not None:
            self.on_fire(expiry)

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

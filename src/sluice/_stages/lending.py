"""Permits lent to nested calls: how a gate stays re-entrant without a deadlock.

A function running under a gate may call the same gate again: directly, from tasks it starts
(a `Gate.map` inside the call), or from its thread. If the nested call queued for a permit
like any other, it could wait for the very permit its caller holds: with every permit held by
callers waiting on their nested calls, nothing would ever move. So a nested call that finds
no free permit runs on its caller's: the caller is waiting for it anyway. One nested call at
a time holds a given caller's permit, and the others wait for it in arrival order, so the gate
never has more calls in flight than its limit. A call made on a lent permit lends it on in turn
to the calls nested in it.

    loans = Loans(owner=limiter, gate="llm")
    lender = holder_above(limiter)          # the enclosing call holding one of its permits
    step = loans.borrow(call, lender)       # None: lent at once; else wait for it
    loans.give_back(lender)                 # the nested call ended
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Coroutine
from typing import Any

from .._core.call import Call
from .._core.enclosing import ENCLOSING

__all__ = ["Loans", "holder_above"]


def holder_above(owner: object) -> Call | None:
    """The innermost enclosing call that holds a permit of ``owner`` (its own or a lent one),
    or ``None``: the current code does not run inside a call of that gate."""
    call = ENCLOSING.get()
    while call is not None:
        if getattr(call, "permit", None) is owner:
            return call
        call = call.outer
    return None


class Loans:
    """The permits of one limiter that are lent to nested calls, by the caller lending: a
    lent permit has an entry, the queue of the nested calls waiting for it."""

    __slots__ = ("_lent", "_owner")

    def __init__(self, *, owner: object) -> None:
        self._owner = owner
        self._lent: dict[Call, deque[asyncio.Future[None]]] = {}

    @property
    def lent(self) -> int:
        """Permits lent to a nested call right now."""
        return len(self._lent)

    def borrow(self, call: Call, lender: Call) -> Coroutine[Any, Any, None] | None:
        """Lend ``lender``'s permit to ``call``: at once (``None``), or a wait for it."""
        call.lender = lender
        waiters = self._lent.get(lender)
        if waiters is None:
            self._lent[lender] = deque()
            call.permit = self._owner
            return None
        return self._wait(call, lender, waiters)

    async def _wait(self, call: Call, lender: Call, waiters: deque[asyncio.Future[None]]) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give_back(lender)  # lent just as we left: pass it on
            else:
                with contextlib.suppress(ValueError):
                    waiters.remove(waiter)
            raise
        call.permit = self._owner

    def give_back(self, lender: Call) -> None:
        """The nested call holding ``lender``'s permit ended: the next in line gets it."""
        waiters = self._lent.get(lender)
        if waiters is None:
            return
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        del self._lent[lender]  # nobody waiting: the permit is its lender's alone again

"""The retry budget of every process together, kept in Redis with a lag.

A retry budget is asked on every call (a deposit) and on every retry (a withdrawal), and both
must answer at once: `SharedBudget` decides on the balance Redis last reported plus what this
process changed since. Calls are sent every 32 calls or once a second, whichever comes first;
a retry is sent at once, so the others learn of it with their next exchange. Between two
processes' exchanges a retry may be spent twice: the budget is a ratio kept over seconds,
not a hard count, and that lag is the price of never waiting on Redis to retry.

    budget = SharedBudget(RetryBudget(percent=0.2), outbox)
    budget.deposit(now); allowed = budget.try_withdraw(now)
    budget.answered(balance=3.5, sent=-1000)        # an exchange came back
"""

from __future__ import annotations

import math
import time

from ..policies.budget import RetryBudget
from ._redis_outbox import Outbox
from ._redis_scripts import UNIT

__all__ = ["SharedBudget"]

_DEPOSITS_PER_SYNC = 32
_SYNC_EVERY = 1.0  # seconds


class SharedBudget:
    """The shared retry budget of one gate (see the module docstring)."""

    __slots__ = (
        "_balance",
        "_deposited",
        "_outbox",
        "_percent",
        "_synced_at",
        "_unsent",
        "_withdrawn",
    )

    def __init__(self, budget: RetryBudget, outbox: Outbox) -> None:
        self._outbox = outbox
        self._percent = round(budget.percent * UNIT)  # units a call deposits
        self._deposited = 0
        self._withdrawn = 0
        self._synced_at = -math.inf  # monotonic time this process last sent its changes
        # Retries allowed as of the latest exchange (the reserve until then), with this
        # process's changes since; and those of its changes Redis has not answered yet.
        self._balance = budget.min_per_second * budget.ttl
        self._unsent = 0.0

    @property
    def balance(self) -> float:
        """Retries the shared budget allows now, as far as this process knows."""
        return self._balance + self._deposited * self._percent / UNIT

    def deposit(self, now: float) -> None:
        self._deposited += 1
        if (
            self._deposited >= _DEPOSITS_PER_SYNC
            or time.monotonic() - self._synced_at >= _SYNC_EVERY
        ):
            self._sync()

    def try_withdraw(self, now: float) -> bool:
        if self.balance < 1:
            return False
        self._withdrawn += 1
        self._sync()
        return True

    def answered(self, balance: float, sent: int) -> None:
        """An exchange came back with Redis's ``balance``, which counts the ``sent`` units
        of this process that went with it; those sent since are still on their way."""
        self._unsent -= sent / UNIT
        self._balance = balance + self._unsent

    def _sync(self) -> None:
        change = self._deposited * self._percent - self._withdrawn * UNIT
        self._deposited = self._withdrawn = 0
        self._synced_at = time.monotonic()
        self._balance += change / UNIT
        self._unsent += change / UNIT
        self._outbox.add("b", change)

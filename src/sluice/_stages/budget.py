"""The retry budget's balance over a sliding window (see `sluice.policies.budget`).

Deposits (one per call) and withdrawals (one per retry) both expire after ``ttl``; the balance
is the reserve plus what is still in the window. Pure: time is passed in.

    state = RetryBudgetState(RetryBudget(percent=0.2, min_per_second=10, ttl=10.0))
    state.deposit(now)
    allowed = state.try_withdraw(now)
"""

from __future__ import annotations

from ..policies.budget import RetryBudget

__all__ = ["RetryBudgetState"]

# Integer units avoid drift when thousands of fractional deposits are added and expired.
_UNIT = 1000
_SLOTS = 10


class RetryBudgetState:
    """The budget's balance over a sliding window of ``ttl`` seconds (10 slots).

    Deposits (one per call) and withdrawals (one per retry) both expire after ``ttl``; the
    balance is the reserve plus what is still in the window.
    """

    __slots__ = (
        "_deposit",
        "_from",
        "_index",
        "_reserve",
        "_slot",
        "_slots",
        "_sum",
        "_until",
        "_width",
    )

    def __init__(self, budget: RetryBudget) -> None:
        self._deposit = round(budget.percent * _UNIT)
        self._reserve = round(budget.min_per_second * budget.ttl * _UNIT)
        self._width = budget.ttl / _SLOTS
        self._slots = [0] * _SLOTS
        self._sum = 0
        self._index: int | None = None
        # The current slot and the times it covers: a deposit within them skips the division.
        self._slot = 0
        self._from = self._until = 0.0

    def _advance(self, now: float) -> int:
        index = int(now // self._width)
        last = self._index
        if index == last:
            return self._slot
        if last is None or index - last >= _SLOTS or index < last:
            self._slots = [0] * _SLOTS
            self._sum = 0
        else:
            for step in range(last + 1, index + 1):
                slot = step % _SLOTS
                self._sum -= self._slots[slot]
                self._slots[slot] = 0
        self._index = index
        slot = self._slot = index % _SLOTS
        self._from = index * self._width
        self._until = self._from + self._width
        return slot

    def deposit(self, now: float) -> None:
        """Record one call (each call earns ``percent`` of a retry)."""
        # Every call deposits: the common case (still in the same slot) skips `_advance`.
        slot = self._slot if self._from <= now < self._until else self._advance(now)
        self._slots[slot] += self._deposit
        self._sum += self._deposit

    def try_withdraw(self, now: float) -> bool:
        """Spend one retry if the balance allows it; return whether it did."""
        slot = self._advance(now)
        if self._reserve + self._sum < _UNIT:
            return False
        self._slots[slot] -= _UNIT
        self._sum -= _UNIT
        return True

    def balance(self, now: float) -> float:
        """Retries that could be spent right now."""
        self._advance(now)
        return (self._reserve + self._sum) / _UNIT

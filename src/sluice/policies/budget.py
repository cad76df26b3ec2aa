"""Retry budget: retries may add at most a fraction of recent traffic, plus a small floor.

Per-call retry limits multiply load during an outage (every caller retries *n* times, at every
layer). A budget shared by the whole gate caps retries at ``percent`` of the calls seen over
the last ``ttl`` seconds, plus ``min_per_second * ttl`` so a quiet client can still retry.
When the budget is empty a failed call is not retried: the error is raised at once.

    budget = RetryBudget(percent=0.2, min_per_second=10, ttl=10.0)
    state = RetryBudgetState(budget)
    state.deposit(now); ok = state.try_withdraw(now)
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import ConfigError
from .._validate import check_non_negative, check_positive

__all__ = ["RetryBudget", "RetryBudgetState"]

# Integer units avoid drift when thousands of fractional deposits are added and expired.
_UNIT = 1000
_SLOTS = 10


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """Retries allowed: ``percent`` of calls in the last ``ttl`` s, plus ``min_per_second``.

    Defaults follow long-lived practice in RPC stacks: 20 % of traffic, 10 retries per second
    of floor, a 10 s memory.
    """

    percent: float = 0.2
    min_per_second: float = 10.0
    ttl: float = 10.0

    def __post_init__(self) -> None:
        percent = check_non_negative("RetryBudget", "percent", self.percent)
        object.__setattr__(self, "percent", percent)
        floor = check_non_negative("RetryBudget", "min_per_second", self.min_per_second)
        object.__setattr__(self, "min_per_second", floor)
        ttl = check_positive("RetryBudget", "ttl", self.ttl)
        if not 1.0 <= ttl <= 60.0:
            raise ConfigError(f"RetryBudget(ttl=...) must be between 1 and 60 seconds, got {ttl!r}")
        object.__setattr__(self, "ttl", ttl)


class RetryBudgetState:
    """The budget's balance over a sliding window of ``ttl`` seconds (10 slots).

    Deposits (one per call) and withdrawals (one per retry) both expire after ``ttl``; the
    balance is the reserve plus what is still in the window.
    """

    __slots__ = ("_deposit", "_index", "_reserve", "_slots", "_sum", "_width")

    def __init__(self, budget: RetryBudget) -> None:
        self._deposit = round(budget.percent * _UNIT)
        self._reserve = round(budget.min_per_second * budget.ttl * _UNIT)
        self._width = budget.ttl / _SLOTS
        self._slots = [0] * _SLOTS
        self._sum = 0
        self._index: int | None = None

    def _advance(self, now: float) -> int:
        index = int(now // self._width)
        last = self._index
        if last is None or index - last >= _SLOTS or index < last:
            self._slots = [0] * _SLOTS
            self._sum = 0
        else:
            for step in range(last + 1, index + 1):
                slot = step % _SLOTS
                self._sum -= self._slots[slot]
                self._slots[slot] = 0
        self._index = index
        return index % _SLOTS

    def deposit(self, now: float) -> None:
        """Record one call (each call earns ``percent`` of a retry)."""
        slot = self._advance(now)
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

from __future__ import annotations

import pytest

import sluice
from sluice._stages.budget import RetryBudgetState
from sluice.policies.budget import RetryBudget


def test_floor_allows_min_per_second_times_ttl_without_traffic() -> None:
    state = RetryBudgetState(RetryBudget(percent=0.2, min_per_second=1.0, ttl=10.0))
    granted = sum(state.try_withdraw(0.0) for _ in range(50))
    assert granted == 10


def test_percent_of_recent_calls_can_be_retried() -> None:
    state = RetryBudgetState(RetryBudget(percent=0.2, min_per_second=0.0, ttl=10.0))
    for _ in range(100):
        state.deposit(0.0)
    assert sum(state.try_withdraw(0.0) for _ in range(100)) == 20
    assert state.balance(0.0) == 0.0


def test_deposits_expire_after_ttl() -> None:
    state = RetryBudgetState(RetryBudget(percent=0.5, min_per_second=0.0, ttl=10.0))
    for _ in range(10):
        state.deposit(0.0)
    assert state.balance(5.0) == 5.0
    assert state.balance(10.5) == 0.0
    assert not state.try_withdraw(10.5)


def test_withdrawals_expire_too() -> None:
    state = RetryBudgetState(RetryBudget(percent=0.0, min_per_second=0.1, ttl=10.0))
    assert state.try_withdraw(0.0)
    assert not state.try_withdraw(1.0)
    assert state.try_withdraw(11.0)


def test_time_going_backwards_resets_rather_than_corrupts() -> None:
    state = RetryBudgetState(RetryBudget(percent=1.0, min_per_second=0.0, ttl=10.0))
    state.deposit(100.0)
    assert state.balance(50.0) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"percent": -0.1}, "percent"),
        ({"min_per_second": -1}, "min_per_second"),
        ({"ttl": 0.5}, "ttl=...) must be between 1 and 60"),
        ({"ttl": 120}, "ttl=...) must be between 1 and 60"),
    ],
)
def test_bad_budget_names_the_parameter(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(sluice.ConfigError, match=r"RetryBudget\(") as info:
        RetryBudget(**kwargs)
    assert fragment in str(info.value)

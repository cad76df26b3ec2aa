"""The rate stage's token bookkeeping: estimates checked, bookings bounded, refusals refunded.

Each test drives the stage the way the kernel does (``before``, then ``after`` with the
attempt's outcome on the `Call` record), with the time passed in: no event loop.
"""

from __future__ import annotations

import math

import pytest

from sluice._core.call import Call
from sluice._stages.rate import RateLimiter
from sluice.policies.rate import Rate


def noop() -> None:
    return None


def tokens_gate() -> RateLimiter:
    return RateLimiter(Rate(tpm=600, token_burst=100), gate="g")  # 10 tokens per second


def admit(rate: RateLimiter, tokens: object, now: float = 0.0) -> Call:
    """An attempt admitted at ``now`` (after the wait it was told, if any) and sent."""
    call = Call(noop, (), {}, tokens)  # type: ignore[arg-type]
    call.deadline = None
    wait = rate.before(call, now)
    call.started = now + (wait or 0.0)
    return call


@pytest.mark.parametrize("tokens", [math.nan, math.inf, -5, -0.5, "100", True])
def test_a_bad_estimate_is_refused_naming_tokens(tokens: object) -> None:
    with pytest.raises(ValueError, match=r"tokens=") as info:
        admit(tokens_gate(), tokens)
    assert repr(tokens) in str(info.value)


def test_an_estimate_function_returning_nan_is_refused_too() -> None:
    with pytest.raises(ValueError, match="finite number >= 0, got nan"):
        admit(tokens_gate(), lambda: math.nan)


def test_a_huge_estimate_is_booked_as_a_minute_of_the_budget() -> None:
    rate = tokens_gate()
    call = admit(rate, 1e12)
    assert call.reserved == 600.0  # tpm: the most one booking may count
    assert call.tokens == 1e12  # the estimate itself is kept for the retries
    assert rate.earliest(0.0, 10) == 51.0


@pytest.mark.parametrize("actual", [math.nan, math.inf, -1.0])
def test_an_unusable_usage_count_leaves_the_booking_as_it_is(actual: float) -> None:
    rate = tokens_gate()
    rate.reserve(0.0, 100)
    rate.settle(reserved=100, actual=actual)
    assert rate.earliest(0.0, 100) == 10.0


def test_a_huge_usage_count_is_settled_as_a_minute_of_the_budget() -> None:
    rate = tokens_gate()
    rate.reserve(0.0, 100)
    rate.settle(reserved=100, actual=1e15)
    assert rate.earliest(0.0, 10) == 51.0  # 600 counted: a 500-token debt


def test_statistics_show_the_wait_a_token_debt_imposes() -> None:
    rate = tokens_gate()
    rate.reserve(0.0, 400)  # 300 tokens of debt: every call carrying tokens waits 30 s
    assert rate.statistics(0.0).delay == 30.0
    assert rate.statistics(20.0).delay == 10.0
    assert rate.statistics(40.0).delay == 0.0

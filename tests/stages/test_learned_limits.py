"""Limits learned from an upstream's reports: an empty budget paces, absurd values are ignored."""

from __future__ import annotations

import math

import pytest

from sluice._stages.rate import RateLimiter
from sluice._stages.signals import reported
from sluice.policies.rate import Rate


def test_nothing_remaining_paces_at_the_refill_interval() -> None:
    rate = RateLimiter(None, gate="g")
    # 600 a minute, none left: full again in 60 s, but one request refills every 0.1 s.
    rate.observe(0.0, requests_limit=600, requests_remaining=0)
    assert [rate.reserve(0.0, 0) for _ in range(3)] == pytest.approx([0.1, 0.2, 0.3])


def test_nothing_remaining_paces_a_configured_rate_too() -> None:
    rate = RateLimiter(Rate(rpm=600, burst=50), gate="g")
    rate.observe(0.0, requests_remaining=0)
    assert rate.reserve(0.0, 0) == pytest.approx(0.1)


def test_no_tokens_remaining_paces_by_each_call_s_cost() -> None:
    rate = RateLimiter(None, gate="g")
    rate.observe(0.0, tokens_limit=60_000, tokens_remaining=0)  # 1,000 tokens a second
    assert rate.reserve(0.0, 500) == pytest.approx(0.5)
    # The learned bucket holds a second (1,000 tokens): a larger call goes once it is full
    # again (at 1.5 s) and leaves it 2,000 tokens in debt, which the next call waits out.
    assert rate.reserve(0.0, 2000) == pytest.approx(1.5)
    assert rate.reserve(0.0, 1000) == pytest.approx(3.5)


def test_a_learned_limit_bursts_one_second_of_its_budget() -> None:
    rate = RateLimiter(None, gate="g")
    rate.observe(0.0, requests_limit=600)  # 10 a second
    starts = [rate.reserve(0.0, 0) for _ in range(12)]
    assert starts[:10] == [0.0] * 10
    assert starts[10:] == pytest.approx([0.1, 0.2])


@pytest.mark.parametrize("limit", [math.nan, math.inf, -math.inf, 0, 0.5, -600, "600", True])
def test_an_absurd_limit_is_ignored(limit: object) -> None:
    rate = RateLimiter(None, gate="g")
    rate.observe(0.0, requests_limit=limit, tokens_limit=limit)  # type: ignore[arg-type]
    stats = rate.statistics(0.0)
    assert stats.requests_per_second is None
    assert stats.tokens_per_minute is None


@pytest.mark.parametrize("remaining", [math.nan, -1, -math.inf, math.inf, "0"])
def test_an_absurd_remaining_count_is_ignored(remaining: object) -> None:
    rate = RateLimiter(None, gate="g")
    rate.observe(0.0, requests_limit=60, requests_remaining=remaining)  # type: ignore[arg-type]
    assert rate.reserve(0.0, 0) == 0.0  # the learned bucket is still full


def test_the_smallest_accepted_limit_still_admits_a_call_a_minute() -> None:
    rate = RateLimiter(None, gate="g")
    rate.observe(0.0, requests_limit=1, requests_remaining=0, tokens_limit=1, tokens_remaining=0)
    # A call of any size is booked as at most a minute of the budget: never longer than that.
    assert rate.reserve(0.0, 1e9) == 60.0


@pytest.mark.parametrize(
    ("value", "least", "expected"),
    [
        (590, 0.0, 590.0),
        (0, 0.0, 0.0),
        (0.5, 1.0, None),
        (math.nan, 0.0, None),
        (math.inf, 0.0, None),
        (-1, 0.0, None),
        (None, 0.0, None),
        (False, 0.0, None),
        ("7", 0.0, None),
    ],
)
def test_reported_keeps_only_finite_numbers_at_or_above_the_least(
    value: object, least: float, expected: float | None
) -> None:
    assert reported(value, least=least) == expected

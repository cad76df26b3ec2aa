from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sluice
from sluice._core.call import Call
from sluice._stages.rate import Gcra, RateLimiter
from sluice.policies.rate import Rate


def limiter(**kwargs: float) -> RateLimiter:
    return RateLimiter(Rate(**kwargs), gate="g")  # type: ignore[arg-type]


def test_evenly_spaced_without_burst() -> None:
    rate = limiter(rps=4)
    assert [rate.reserve(0.0, 0) for _ in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_burst_goes_at_once_then_the_rate_applies() -> None:
    rate = limiter(rps=2, burst=3)
    assert [rate.reserve(0.0, 0) for _ in range(5)] == [0.0, 0.0, 0.0, 0.5, 1.0]


def test_no_initial_burst_beyond_burst() -> None:
    rate = limiter(rpm=60, burst=1)
    slots = [rate.reserve(0.0, 0) for _ in range(3)]
    assert slots == [0.0, 1.0, 2.0]


def test_idle_time_refills_up_to_the_burst_only() -> None:
    rate = limiter(rps=1, burst=2)
    rate.reserve(0.0, 0)
    assert [rate.reserve(100.0, 0) for _ in range(3)] == [100.0, 100.0, 101.0]


def test_token_budget_spaces_calls_by_their_cost() -> None:
    rate = limiter(tpm=600, token_burst=100)  # 10 tokens per second
    assert rate.reserve(0.0, 100) == 0.0
    assert rate.reserve(0.0, 50) == 5.0
    assert rate.reserve(0.0, 50) == 10.0


def test_cost_larger_than_the_bucket_is_admitted_when_full_and_leaves_a_debt() -> None:
    rate = limiter(tpm=600, token_burst=100)
    assert rate.reserve(0.0, 400) == 0.0  # bucket full: admitted instead of waiting forever
    assert rate.reserve(0.0, 10) == 31.0  # the 300-token debt is paid at 10 tokens/s first


def test_one_booking_counts_at_most_a_minute_of_the_budget() -> None:
    rate = limiter(tpm=600, token_burst=100)
    assert rate.reserve(0.0, 1e12) == 0.0
    # Booked as 600 tokens (a minute's budget), not 1e12: a 500-token debt, not 3,000 years.
    assert rate.reserve(0.0, 10) == 51.0


def test_a_learned_bucket_bounds_one_booking_to_a_minute_of_the_budget() -> None:
    rate = RateLimiter(None, gate="g")
    rate.observe(0.0, tokens_limit=100_000, tokens_remaining=100_000)
    assert rate.reserve(0.0, 200_000) == 0.0  # the bucket was full: it is now a minute in debt
    # The next 1,000 tokens wait out that minute, less the learned bucket (a second, 1,667
    # tokens): 60 + 0.6 - 1.0 s, not the two minutes 200,000 tokens would take.
    assert rate.reserve(0.0, 1000) == pytest.approx(59.6)


def test_large_reservation_is_not_starved_by_small_ones() -> None:
    rate = limiter(tpm=600, token_burst=100)
    rate.reserve(0.0, 100)  # drain
    big = rate.reserve(0.0, 80)
    smalls = [rate.reserve(0.1 * i, 1) for i in range(1, 12)]
    assert big == 8.0
    assert all(slot > big for slot in smalls)


def test_requests_and_tokens_are_booked_at_one_joint_slot() -> None:
    rate = limiter(rps=10, tpm=60, token_burst=10)  # 0.1 s per request, 1 token per second
    assert rate.reserve(0.0, 10) == 0.0
    assert rate.reserve(0.0, 5) == 5.0  # tokens are the bottleneck
    # The request slot of that call was booked at 5.0 too, so a token-free call comes one
    # request interval later, not at 0.1 s as a request limit booked separately would allow.
    assert rate.reserve(0.0, 0) == pytest.approx(5.1)


def test_settle_refunds_or_charges_the_difference() -> None:
    rate = limiter(tpm=600, token_burst=100)
    rate.reserve(0.0, 100)
    rate.settle(reserved=100, actual=40)
    assert rate.earliest(0.0, 100) == 4.0
    rate.settle(reserved=40, actual=140)
    assert rate.earliest(0.0, 100) == 14.0


def test_refund_gives_back_an_unused_booking() -> None:
    rate = limiter(rps=1)
    rate.reserve(0.0, 0)
    second = rate.reserve(0.0, 0)
    rate.refund(0)
    assert rate.reserve(0.0, 0) == second


def test_statistics_report_the_delay_of_a_new_call() -> None:
    rate = limiter(rps=2)
    rate.reserve(0.0, 0)
    stats = rate.statistics(0.0)
    assert stats.delay == 0.5
    assert stats.requests_per_second == 2.0
    assert stats.tokens_per_minute is None


def test_learning_a_limit_from_scratch() -> None:
    rate = RateLimiter(None, gate="g")
    assert not rate.counts_tokens
    rate.observe(0.0, requests_limit=60, requests_remaining=0, tokens_limit=6000)
    assert rate.counts_tokens
    stats = rate.statistics(0.0)
    assert stats.requests_per_second == 1.0
    assert stats.tokens_per_minute == 6000
    assert stats.delay == 1.0  # nothing remains: the next request waits one interval


def test_learning_lowers_a_rate_configured_too_high() -> None:
    rate = limiter(rpm=600)
    rate.observe(0.0, requests_limit=60)
    assert rate.statistics(0.0).requests_per_second == 1.0


def test_learning_keeps_a_configured_rate_that_is_lower() -> None:
    rate = limiter(rpm=30)
    rate.observe(0.0, requests_limit=600)
    assert rate.statistics(0.0).requests_per_second == 0.5


def test_remaining_only_ever_tightens() -> None:
    rate = limiter(rps=1, burst=10)
    rate.observe(0.0, requests_remaining=2)
    assert [rate.reserve(0.0, 0) for _ in range(3)] == [0.0, 0.0, 1.0]
    rate.observe(5.0, requests_remaining=100)  # more than our burst: no effect
    assert rate.earliest(5.0) == 5.0


def test_a_slot_after_the_deadline_fails_fast_and_says_when() -> None:
    rate = limiter(rps=1)
    rate.reserve(0.0, 0)
    call = Call(lambda: None, (), {}, None)
    call.deadline = 0.5
    with pytest.raises(sluice.DeadlineExceeded) as info:
        rate.before(call, 0.0)
    assert info.value.retry_after == 1.0
    assert rate.earliest(0.0) == 1.0  # nothing was booked for it


def test_gcra_adjust_moves_the_arrival_time() -> None:
    gcra = Gcra(interval=1.0, capacity=1)
    gcra.commit(0.0, 1)
    gcra.adjust(-1)
    assert gcra.earliest(0.0, 1) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({}, "Rate() needs at least one of rps=, rpm= or tpm="),
        ({"rps": 1, "rpm": 60}, "give one of them, not both"),
        ({"rps": -1}, "Rate(rps=...) must be a finite number > 0"),
        ({"rpm": 0}, "Rate(rpm=...) must be a finite number > 0"),
        ({"tpm": float("nan")}, "Rate(tpm=...) must be a finite number > 0"),
        ({"rps": 1, "burst": 0}, "Rate(burst=...) must be an integer >= 1"),
        ({"rps": 1, "token_burst": 10}, "Rate(token_burst=...) only makes sense with tpm="),
        ({"tpm": 100, "token_burst": -5}, "Rate(token_burst=...) must be a finite number > 0"),
    ],
)
def test_bad_rate_configuration(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(sluice.ConfigError) as info:
        Rate(**kwargs)
    assert fragment in str(info.value)


# ----------------------------------------------------------------------------- properties
@settings(max_examples=300, deadline=None)
@given(
    rps=st.floats(min_value=0.5, max_value=50.0),
    burst=st.integers(min_value=1, max_value=10),
    gaps=st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=80),
)
def test_admissions_in_any_window_stay_within_rate_times_window_plus_burst(
    rps: float, burst: int, gaps: list[float]
) -> None:
    rate = limiter(rps=rps, burst=burst)
    now = 0.0
    admitted = []
    for gap in gaps:
        now += gap
        slot = rate.reserve(now, 0)
        assert slot >= now
        admitted.append(slot)
    assert admitted == sorted(admitted), "slots were not served in arrival order"
    for i in range(len(admitted)):
        for j in range(i, len(admitted)):
            window = admitted[j] - admitted[i]
            assert j - i + 1 <= rps * window + burst + 1e-6


@settings(max_examples=200, deadline=None)
@given(
    tpm=st.floats(min_value=60.0, max_value=60_000.0),
    costs=st.lists(st.floats(min_value=1.0, max_value=100.0), min_size=1, max_size=60),
    gaps=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=60, max_size=60),
)
def test_tokens_in_any_window_stay_within_rate_times_window_plus_capacity(
    tpm: float, costs: list[float], gaps: list[float]
) -> None:
    capacity = 100.0
    rate = limiter(tpm=tpm, token_burst=capacity)
    now = 0.0
    admitted = []
    for cost, gap in zip(costs, gaps, strict=False):
        now += gap
        admitted.append((rate.reserve(now, cost), cost))
    per_second = tpm / 60.0
    for i in range(len(admitted)):
        spent = 0.0
        for j in range(i, len(admitted)):
            spent += admitted[j][1]
            window = admitted[j][0] - admitted[i][0]
            assert spent <= per_second * window + capacity + 1e-6

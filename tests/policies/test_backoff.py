from __future__ import annotations

import random

import pytest

import sluice
from sluice.policies.backoff import Backoff


def test_exponential_raw_delays_grow_then_cap() -> None:
    backoff = Backoff.exponential(base=0.5, cap=8.0, jitter="none")
    assert [backoff.raw(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_huge_retry_numbers_do_not_overflow() -> None:
    assert Backoff.exponential(base=1.0, cap=30.0, multiplier=10.0).raw(5000) == 30.0


def test_constant_backoff_is_constant() -> None:
    backoff = Backoff.constant(2.0)
    rng = random.Random(1)
    assert [backoff.delay(n, rng) for n in (1, 2, 9)] == [2.0, 2.0, 2.0]


def test_full_jitter_stays_within_zero_and_the_capped_delay() -> None:
    backoff = Backoff.exponential(base=1.0, cap=4.0, jitter="full")
    rng = random.Random(7)
    delays = [backoff.delay(10, rng) for _ in range(2000)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    # Capping happens before the jitter, so saturated delays are still spread out.
    assert min(delays) < 0.5
    assert max(delays) > 3.5


def test_equal_jitter_keeps_at_least_half() -> None:
    backoff = Backoff.constant(1.0, jitter="equal")
    rng = random.Random(3)
    delays = [backoff.delay(1, rng) for _ in range(2000)]
    assert all(0.5 <= d <= 1.0 for d in delays)


def test_same_seed_same_delays() -> None:
    backoff = Backoff.exponential()
    first = [backoff.delay(n, random.Random(42)) for n in range(1, 6)]
    second = [backoff.delay(n, random.Random(42)) for n in range(1, 6)]
    assert first == second


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"jitter": "gaussian"}, "jitter=...) must be one of 'full', 'equal', 'none'"),
        ({"base": -1.0}, "base=...) must be a finite number >= 0"),
        ({"cap": float("inf")}, "cap=...) must be a finite number >= 0"),
        ({"multiplier": 0.5}, "multiplier=...) must be >= 1"),
    ],
)
def test_bad_configuration_names_the_parameter(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(sluice.ConfigError, match="Backoff") as info:
        Backoff(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


@pytest.mark.parametrize("delay", [-1, float("nan"), float("inf"), "2s"])
def test_a_bad_constant_delay_names_delay(delay: object) -> None:
    with pytest.raises(sluice.ConfigError) as info:
        Backoff.constant(delay)  # type: ignore[arg-type]
    assert f"Backoff.constant(delay=...) must be a finite number >= 0, got {delay!r}" in str(
        info.value
    )

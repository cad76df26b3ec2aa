from __future__ import annotations

import asyncio
import random

import pytest

import sluice
from sluice._stages.budget import RetryBudgetState
from sluice.policies.budget import RetryBudget
from sluice.policies.retry import Attempt, Retry, attach_history, attempt_history, is_retryable


class Flagged(Exception):
    def __init__(self, retryable: bool | None = None, retry_after: float | None = None) -> None:
        super().__init__("flagged")
        if retryable is not None:
            self.retryable = retryable
        if retry_after is not None:
            self.retry_after = retry_after


def decide(retry: Retry, exc: BaseException, attempt: int = 1, **kw: object) -> object:
    params: dict[str, object] = {
        "now": 0.0,
        "deadline": None,
        "rng": random.Random(0),
        "budget": None,
    }
    params.update(kw)
    return retry.decide(exc, attempt=attempt, **params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (ValueError(), False),
        (Flagged(retryable=True), True),
        (Flagged(retryable=False), False),
        (sluice.AttemptTimeout("t", gate="g", timeout=1), True),
        (sluice.DeadlineExceeded("t", gate="g", timeout=1), False),
        (sluice.CircuitOpenError("o", gate="g", retry_after=1), False),
        (sluice.OverloadedError("o", gate="g", reason="queue_full"), False),
    ],
)
def test_default_classification(exc: BaseException, expected: bool) -> None:
    assert is_retryable(exc) is expected


def test_cancellation_is_never_retryable_by_default() -> None:
    assert not is_retryable(asyncio.CancelledError())


def test_retry_on_types_replace_the_default() -> None:
    retry = Retry(retry_on=KeyError)
    assert retry.classify(KeyError("x"))
    assert not retry.classify(TimeoutError())


def test_retry_on_predicate_can_extend_the_default() -> None:
    retry = Retry(retry_on=lambda e: is_retryable(e) or isinstance(e, KeyError))
    assert retry.classify(KeyError("x"))
    assert retry.classify(TimeoutError())
    assert not retry.classify(ValueError())


def test_retryable_error_is_retried_with_backoff() -> None:
    retry = Retry(attempts=3, backoff=sluice.Backoff.constant(1.5))
    decision = decide(retry, TimeoutError())
    assert decision == sluice.policies.retry.RetryDecision(True, 1.5, "retry")  # type: ignore[attr-defined]


def test_non_retryable_error_stops() -> None:
    decision = decide(Retry(attempts=3), ValueError())
    assert not decision.retry
    assert decision.reason == "not retryable"


def test_attempts_count_the_first_try() -> None:
    retry = Retry(attempts=3, backoff=sluice.Backoff.constant(0.1))
    assert decide(retry, TimeoutError(), attempt=2).retry  # type: ignore[attr-defined]
    final = decide(retry, TimeoutError(), attempt=3)
    assert not final.retry
    assert final.reason == "all 3 attempts used"


def test_retry_after_is_honoured_exactly() -> None:
    retry = Retry(backoff=sluice.Backoff.constant(0.1))
    decision = decide(retry, Flagged(retryable=True, retry_after=7.25))
    assert decision.retry
    assert decision.delay == 7.25


def test_retry_after_longer_than_the_maximum_is_not_retried() -> None:
    retry = Retry(max_retry_after=60.0)
    decision = decide(retry, Flagged(retryable=True, retry_after=61.0))
    assert not decision.retry  # type: ignore[attr-defined]
    assert "exceeds max_retry_after=60s" in decision.reason  # type: ignore[attr-defined]


def test_sleep_that_would_pass_the_deadline_stops() -> None:
    retry = Retry(backoff=sluice.Backoff.constant(2.0))
    assert decide(retry, TimeoutError(), now=10.0, deadline=12.5).retry  # type: ignore[attr-defined]
    stopped = decide(retry, TimeoutError(), now=10.0, deadline=12.0)
    assert not stopped.retry
    assert "deadline" in stopped.reason


def test_empty_budget_stops_and_a_full_one_is_charged() -> None:
    budget = RetryBudgetState(RetryBudget(percent=0.0, min_per_second=0.1, ttl=10.0))
    retry = Retry(backoff=sluice.Backoff.constant(0.0))
    assert decide(retry, TimeoutError(), budget=budget).retry  # type: ignore[attr-defined]
    refused = decide(retry, TimeoutError(), budget=budget)
    assert not refused.retry
    assert refused.reason == "retry budget exhausted"


def test_history_is_attached_and_readable() -> None:
    exc = TimeoutError("slow")
    history = [
        Attempt(1, "TimeoutError('slow')", 0.5, 1.0),
        Attempt(2, "TimeoutError('slow')", 0.5, None),
    ]
    attach_history(exc, "llm", history, "all 2 attempts used")
    assert attempt_history(exc) == tuple(history)
    assert exc.__notes__[0].startswith(
        "sluice: gate 'llm' stopped after 2 attempt(s): all 2 attempts used."
    )
    assert attempt_history(ValueError()) == ()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"attempts": 0}, "Retry(attempts=...) must be an integer >= 1"),
        ({"attempts": 2.5}, "Retry(attempts=...) must be an integer >= 1"),
        ({"backoff": 1.0}, "Retry(backoff=...) must be a sluice.Backoff"),
        ({"max_retry_after": -1}, "Retry(max_retry_after=...)"),
        ({"budget": 0.2}, "Retry(budget=...) must be a sluice.RetryBudget or None"),
        ({"retry_on": (KeyError, "x")}, "Retry(retry_on=...) must be exception types"),
        ({"retry_on": 3}, "Retry(retry_on=...) must be exception types"),
    ],
)
def test_bad_retry_configuration(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(sluice.ConfigError) as info:
        Retry(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)

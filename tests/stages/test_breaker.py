from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sluice
from sluice._stages.breaker import CircuitBreaker
from sluice.policies.breaker import Breaker, counts_as_failure


def make(**kwargs: object) -> CircuitBreaker:
    config: dict[str, object] = {"failure_rate": 0.5, "window": 4, "min_calls": 4, "open_for": 10.0}
    config.update(kwargs)
    return CircuitBreaker(Breaker(**config), gate="g")  # type: ignore[arg-type]


def feed(
    breaker: CircuitBreaker, now: float, outcomes: list[bool | None], duration: float = 0.1
) -> None:
    for failed in outcomes:
        breaker.record(breaker.admit(now), now, failed=failed, duration=duration)


def test_opens_at_the_failure_rate_once_min_calls_were_seen() -> None:
    breaker = make()
    feed(breaker, 0.0, [True, True, False])
    assert breaker.state(0.0) == "closed"  # 3 calls < min_calls
    feed(breaker, 0.0, [False])
    assert breaker.state(0.0) == "open"  # 2 of 4 failed = 50 %


def test_window_slides_over_the_last_calls() -> None:
    breaker = make(window=4, min_calls=4, failure_rate=0.75)
    feed(breaker, 0.0, [True, True, False, False, False])  # window now: T F F F
    assert breaker.state(0.0) == "closed"
    assert breaker.statistics(0.0).failure_rate == 0.25


def test_decimal_thresholds_are_reached_exactly() -> None:
    breaker = make(window=10, min_calls=10, failure_rate=0.3)
    feed(breaker, 0.0, [True] * 3 + [False] * 7)
    assert breaker.state(0.0) == "open"


def test_open_rejects_with_retry_after_until_open_for_has_passed() -> None:
    breaker = make()
    feed(breaker, 0.0, [True] * 4)
    with pytest.raises(sluice.CircuitOpenError) as info:
        breaker.admit(3.0)
    assert info.value.retry_after == 7.0
    assert info.value.gate == "g"
    assert breaker.state(10.0) == "half_open"


def test_half_open_admits_exactly_the_probes_then_a_success_closes() -> None:
    breaker = make(half_open_probes=2)
    feed(breaker, 0.0, [True] * 4)
    first, second = breaker.admit(10.0), breaker.admit(10.0)
    with pytest.raises(sluice.CircuitOpenError):
        breaker.admit(10.0)
    assert breaker.record(first, 10.5, failed=False, duration=0.5) == "closed"
    # The other probe belongs to the half-open period that ended: its outcome is dropped.
    assert breaker.record(second, 11.0, failed=True, duration=1.0) is None
    assert breaker.state(11.0) == "closed"
    assert breaker.statistics(11.0).calls_in_window == 0


def test_failed_probe_reopens_for_a_full_period() -> None:
    breaker = make()
    feed(breaker, 0.0, [True] * 4)
    probe = breaker.admit(12.0)
    assert breaker.record(probe, 13.0, failed=True, duration=1.0) == "open"
    with pytest.raises(sluice.CircuitOpenError) as info:
        breaker.admit(13.0)
    assert info.value.retry_after == 10.0
    assert breaker.statistics(13.0).times_opened == 2


def test_ignored_probe_outcome_frees_its_slot() -> None:
    breaker = make()
    feed(breaker, 0.0, [True] * 4)
    probe = breaker.admit(10.0)
    breaker.record(probe, 10.0, failed=None, duration=0.0)
    assert breaker.state(10.0) == "half_open"
    breaker.admit(10.0)  # the slot is free again


def test_ignored_outcomes_do_not_count() -> None:
    breaker = make()
    feed(breaker, 0.0, [None] * 10)
    assert breaker.statistics(0.0).calls_in_window == 0


def test_outcome_of_a_call_admitted_before_opening_is_dropped() -> None:
    breaker = make()
    early = breaker.admit(0.0)
    feed(breaker, 0.0, [True] * 4)
    assert breaker.record(early, 20.0, failed=False, duration=20.0) is None
    assert breaker.state(20.0) == "half_open"


def test_slow_calls_open_the_circuit() -> None:
    breaker = make(slow_call_s=2.0, slow_call_rate=0.5)
    feed(breaker, 0.0, [False, False], duration=5.0)
    feed(breaker, 0.0, [False, False], duration=0.1)
    assert breaker.state(0.0) == "open"


def test_slow_probe_counts_as_failed() -> None:
    breaker = make(slow_call_s=2.0)
    feed(breaker, 0.0, [True] * 4)
    probe = breaker.admit(10.0)
    assert breaker.record(probe, 13.0, failed=False, duration=3.0) == "open"


def test_default_failure_classification() -> None:
    class BadRequest(Exception):
        retryable = False

    assert counts_as_failure(ValueError())
    assert counts_as_failure(TimeoutError())
    assert not counts_as_failure(BadRequest())
    assert not counts_as_failure(sluice.OverloadedError("x", gate="g", reason="max_wait"))


def test_failure_on_types_and_predicates() -> None:
    assert Breaker(failure_on=KeyError).is_failure(KeyError())
    assert not Breaker(failure_on=KeyError).is_failure(ValueError())
    assert Breaker(failure_on=lambda e: "boom" in str(e)).is_failure(ValueError("boom"))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"failure_rate": 0}, "Breaker(failure_rate=...) must be a number in (0, 1]"),
        ({"failure_rate": 1.5}, "Breaker(failure_rate=...) must be a number in (0, 1]"),
        ({"window": 5, "min_calls": 10}, "Breaker(window=...) must be >= min_calls (10), got 5"),
        ({"open_for": -1}, "Breaker(open_for=...) must be a finite number > 0"),
        ({"half_open_probes": 0}, "Breaker(half_open_probes=...) must be an integer >= 1"),
        ({"slow_call_s": 0}, "Breaker(slow_call_s=...)"),
        ({"slow_call_rate": 2}, "Breaker(slow_call_rate=...)"),
        ({"failure_on": "ValueError"}, "Breaker(failure_on=...) must be exception types"),
        ({"failure_on": (ValueError, 1)}, "Breaker(failure_on=...) must be exception types"),
    ],
)
def test_bad_breaker_configuration(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(sluice.ConfigError) as info:
        Breaker(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


# ----------------------------------------------------------------------------- properties
operations = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.floats(min_value=0.0, max_value=6.0)),
        st.tuples(st.just("admit"), st.just(0.0)),
        st.tuples(st.just("finish"), st.sampled_from([True, False, None])),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(ops=operations, probes=st.integers(min_value=1, max_value=3))
def test_state_machine_invariants(ops: list[tuple[str, object]], probes: int) -> None:
    breaker = make(window=4, min_calls=2, open_for=5.0, half_open_probes=probes)
    now = 0.0
    running: list[tuple[int, bool]] = []  # (ticket, admitted while half-open)
    probe_ticket = -1  # ticket of the current half-open period
    for op, arg in ops:
        if op == "advance":
            now += float(arg)  # type: ignore[arg-type]
        elif op == "admit":
            state = breaker.state(now)
            try:
                ticket = breaker.admit(now)
            except sluice.CircuitOpenError as exc:
                assert state != "closed", "a closed circuit rejected a call"
                assert exc.retry_after > 0  # noqa: PT017 - a property loop, not a single raise
                if state == "half_open":
                    live = sum(1 for t, probe in running if probe and t == probe_ticket)
                    assert live == probes, "a half-open circuit refused a free probe slot"
                continue
            assert state != "open", "a call was admitted while the circuit was open"
            running.append((ticket, state == "half_open"))
            if state == "half_open":
                probe_ticket = ticket
                live = sum(1 for t, probe in running if probe and t == ticket)
                assert live <= probes, "more probes than half_open_probes"
        elif running:
            ticket, _ = running.pop(0)
            breaker.record(ticket, now, failed=arg, duration=0.0)  # type: ignore[arg-type]

"""The adaptive-concurrency controller, driven by hand: no event loop, time passed in."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import pytest

import sluice
from sluice._stages.adaptive import AdaptiveLimit
from sluice.policies.adaptive import (
    Adaptive,
    LimitChange,
    coerce_concurrency,
    is_drop,
)
from sluice.policies.limit import Concurrency
from tests.helpers import Flaky


def pipeline(
    controller: AdaptiveLimit,
    latency_of: Callable[[int], float],
    now: float,
    seconds: float,
    *,
    demand: int | None = None,
) -> float:
    """A closed loop in its steady state, from ``now`` for ``seconds``: ``load`` calls are
    always in flight (the limit, or ``demand`` if lower), each taking ``latency_of(load)``, so
    one ends every ``latency / load`` seconds and another starts. Returns the time reached."""
    until = now + seconds
    while now < until:
        load = controller.limit if demand is None else min(controller.limit, demand)
        latency = latency_of(load)
        now += latency / load
        controller.on_sample(now, latency, load)
    return now


def window(
    controller: AdaptiveLimit, now: float, latency: float, in_flight: int, count: int
) -> list[int | None]:
    """``count`` samples of ``latency`` ending evenly over the ``2.5 * latency`` before
    ``now``, so that the last one ends a window long enough to be judged."""
    answers = []
    for index in range(count):
        end = now - 2.5 * latency * (count - 1 - index) / max(1, count - 1)
        answers.append(controller.on_sample(end, latency, in_flight))
    return answers


def reasons(controller: AdaptiveLimit) -> list[str]:
    return [change.reason for change in controller.statistics().history]


def queueing(capacity: int, base: float = 1.0) -> Callable[[int], float]:
    return lambda load: base * max(1.0, load / capacity)


def flat(load: int) -> float:
    return 1.0


# ---------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min": 0}, "Adaptive(min=...) must be an integer >= 1, got 0"),
        ({"min": 8, "initial": 8, "max": 4}, "Adaptive(max=...) must be an integer >= 8, got 4"),
        ({"initial": 0}, "Adaptive(initial=...) must be between min (1) and max (512), got 0"),
        ({"initial": 600}, "Adaptive(initial=...) must be between min (1) and max (512)"),
        ({"initial": 2.5}, "Adaptive(initial=...) must be an integer, got 2.5"),
        ({"initial": True}, "Adaptive(initial=...) must be an integer, got True"),
        ({"backoff": 1.0}, "Adaptive(backoff=...) must be in [0.5, 1), got 1.0"),
        ({"backoff": 0.3}, "Adaptive(backoff=...) must be in [0.5, 1), got 0.3"),
        ({"backoff": math.nan}, "Adaptive(backoff=...) must be a finite number > 0"),
        ({"tolerance": 0}, "Adaptive(tolerance=...) must be a finite number > 0, got 0"),
        ({"tolerance": math.inf}, "Adaptive(tolerance=...) must be a finite number > 0"),
        ({"window": 0}, "Adaptive(window=...) must be an integer >= 1, got 0"),
        ({"history": 0}, "Adaptive(history=...) must be an integer >= 1, got 0"),
        ({"max_queue": -1}, "Adaptive(max_queue=...) must be an integer >= 0, got -1"),
        ({"max_wait": 0}, "Adaptive(max_wait=...) must be a finite number > 0, got 0"),
    ],
)
def test_invalid_settings_name_the_parameter(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(sluice.ConfigError) as info:
        Adaptive(**kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


def test_defaults_and_the_limiter_they_start() -> None:
    config = Adaptive()
    assert (config.min, config.max, config.initial) == (1, 512, 16)
    assert config.tolerance == 0.15
    assert Adaptive(max_queue=10, max_wait=2).limiter_config() == Concurrency(
        16, max_queue=10, max_wait=2.0
    )
    assert Adaptive(tolerance=None).tolerance is None
    assert sluice.Adaptive is Adaptive


def test_coerce_accepts_every_form_of_concurrency() -> None:
    assert coerce_concurrency("auto") == Adaptive()
    assert coerce_concurrency(" Auto ") == Adaptive()
    assert coerce_concurrency(8) == Concurrency(8)
    assert coerce_concurrency(None) is None
    fixed, adaptive = Concurrency(4, max_queue=1), Adaptive(initial=4)
    assert coerce_concurrency(fixed) is fixed
    assert coerce_concurrency(adaptive) is adaptive


@pytest.mark.parametrize("value", ["fast", "", True, 2.5, [4]])
def test_coerce_rejects_anything_else_listing_what_is_accepted(value: object) -> None:
    with pytest.raises(sluice.ConfigError) as info:
        coerce_concurrency(value)
    text = str(info.value)
    assert text.startswith("Gate(concurrency=...) must be an int >= 1, a sluice.Concurrency, ")
    assert "'auto'" in text
    assert text.endswith(f"got {value!r}")


def test_coerce_leaves_a_bad_int_to_concurrency() -> None:
    with pytest.raises(
        sluice.ConfigError, match=r"^Concurrency\(limit=\.\.\.\) must be an integer >= 1"
    ):
        coerce_concurrency(0)


def test_what_counts_as_a_drop() -> None:
    assert is_drop(TimeoutError())
    assert is_drop(sluice.AttemptTimeout("slow", gate="g", timeout=1.0))
    assert is_drop(sluice.OverloadedError("full", gate="g", reason="queue_full"))
    assert is_drop(Flaky(overloaded=True))  # what the client's 429/503/529 errors carry
    assert not is_drop(Flaky())
    assert not is_drop(ValueError("bad request"))
    assert not is_drop(asyncio.CancelledError())
    assert not is_drop(KeyboardInterrupt())


def test_a_refusal_for_a_spent_budget_is_for_the_rate_to_pace_not_a_drop() -> None:
    error = Flaky(overloaded=True)
    spent = sluice.ErrorInfo(retryable=True, overloaded=True, status=429, quota_left=False)
    sporadic = sluice.ErrorInfo(retryable=True, overloaded=True, status=429, quota_left=True)
    silent = sluice.ErrorInfo(retryable=True, overloaded=True, status=429)
    assert not is_drop(error, spent)
    assert is_drop(error, sporadic)
    assert is_drop(error, silent)


# ---------------------------------------------------------------------------- drops
def test_a_drop_cuts_by_the_backoff_at_once() -> None:
    controller = AdaptiveLimit(Adaptive(initial=20, backoff=0.8))
    assert controller.on_sample(5.0, 0.5, 20, dropped=True) == 16
    assert controller.limit == 16
    assert controller.statistics().history == (LimitChange(5.0, 20, 16, "drop"),)
    assert controller.statistics().drops == 1


def test_one_overload_episode_is_answered_once() -> None:
    controller = AdaptiveLimit(Adaptive(initial=20))
    assert controller.on_sample(10.0, 1.0, 20, dropped=True) == 18
    # Admitted before the cut (started at 9.5 and 9.9): already answered.
    assert controller.on_sample(10.5, 1.0, 15, dropped=True) is None
    assert controller.on_sample(10.9, 1.0, 15, dropped=True) is None
    # Admitted after the cut, but while more were in flight than the new limit allows.
    assert controller.on_sample(11.0, 0.5, 19, dropped=True) is None
    # Admitted after the cut under the new limit: a new signal.
    assert controller.on_sample(11.0, 0.5, 18, dropped=True) == 16
    assert [change.reason for change in controller.statistics().history] == ["drop", "drop"]
    assert controller.statistics().drops == 2


def test_errors_that_are_not_drops_and_cancellations_are_ignored() -> None:
    controller = AdaptiveLimit(Adaptive(initial=20))
    for error in (ValueError("bad"), Flaky(), asyncio.CancelledError()):
        assert controller.on_outcome(1.0, 0.5, 20, error) is None
    assert controller.on_outcome(1.0, 0.5, 20, TimeoutError()) == 18
    assert controller.statistics().drops == 1


def test_drops_never_go_below_min() -> None:
    controller = AdaptiveLimit(Adaptive(min=4, initial=5, backoff=0.5))
    assert controller.on_sample(1.0, 0.1, 5, dropped=True) == 4
    assert controller.on_sample(2.0, 0.1, 4, dropped=True) is None
    assert controller.limit == 4


# ---------------------------------------------------------------------------- growth
def test_slow_start_doubles_until_the_first_cut_then_grows_by_one() -> None:
    controller = AdaptiveLimit(Adaptive(initial=20))
    # The first window only measures the noise; the second, busy, is followed by a probe at
    # half the limit; latency did not fall with the load, so back to 20 and doubling.
    now = pipeline(controller, flat, 0.0, 30.0)
    history = controller.statistics().history
    assert [(c.new, c.reason) for c in history[:4]] == [
        (10, "baseline probe"),
        (20, "baseline found"),
        (40, "slow start"),
        (80, "slow start"),
    ]
    assert controller.statistics().phase == "slow start"
    controller.on_sample(now, 0.01, controller.limit, dropped=True)
    cut = controller.limit
    pipeline(controller, flat, now, 30.0)
    assert controller.statistics().phase == "steady"
    after = reasons(controller)[reasons(controller).index("drop") + 1 :]
    assert len(after) >= 3
    assert set(after) == {"probe up"}
    assert controller.limit == cut + len(after)


def test_an_app_limited_load_never_grows_the_limit() -> None:
    controller = AdaptiveLimit(Adaptive(initial=40))
    now = pipeline(controller, flat, 0.0, 200.0, demand=19)  # in flight < limit / 2
    assert controller.limit == 40
    assert controller.statistics().history == ()
    # Same in the steady phase, after a cut.
    controller.on_sample(now, 0.01, 19, dropped=True)
    assert controller.limit == 36
    now = pipeline(controller, flat, now, 200.0, demand=17)
    assert controller.limit == 36
    pipeline(controller, flat, now, 200.0, demand=18)  # half the limit in use: grows
    assert controller.limit == 37  # and then 18 is less than half of 37 again
    assert reasons(controller) == ["drop", "probe up"]


def test_the_limit_stays_within_max() -> None:
    controller = AdaptiveLimit(Adaptive(initial=8, max=40))
    pipeline(controller, flat, 0.0, 100.0)
    assert controller.limit == 40
    assert controller.statistics().history[-1].new == 40


def test_without_tolerance_latency_is_ignored() -> None:
    controller = AdaptiveLimit(Adaptive(initial=10, max=100, tolerance=None))
    pipeline(controller, queueing(capacity=10), 0.0, 200.0)
    assert controller.limit == 100  # pure AIMD: only drops would stop it
    assert reasons(controller) == ["slow start"] * 4


# ---------------------------------------------------------------------------- latency
def test_rising_latency_cuts_to_the_load_served_at_baseline_latency() -> None:
    controller = AdaptiveLimit(Adaptive(initial=80))
    window(controller, 10.0, 1.0, 80, 40)  # calibrates the noise
    window(controller, 20.0, 1.0, 80, 40)  # busy: probe at 40
    assert controller.limit == 40
    window(controller, 30.0, 1.0, 40, 20)  # latency did not fall: back to 80
    assert controller.limit == 80
    # Latency 1.6x the baseline with 80 in flight: 80 / 1.6 = 50 can be served unqueued.
    # A window holds at least half the limit's worth of samples, so the 40th decides.
    answers = window(controller, 40.0, 1.6, 80, 40)
    assert answers == [None] * 39 + [50]
    last = controller.statistics().history[-1]
    assert (last.old, last.new, last.reason) == (80, 50, "latency rising")
    stats = controller.statistics()
    assert stats.baseline_latency == 1.0
    assert stats.recent_latency == 1.6
    assert stats.phase == "steady"


def test_a_window_waits_for_the_slow_calls_started_with_the_quick_ones() -> None:
    controller = AdaptiveLimit(Adaptive(initial=4, window=10))
    # Ten calls started at 0 and ended by 1.0: the window has not lasted three latencies.
    for index in range(10):
        controller.on_sample(1.0, 1.0 - index * 0.01, 4)
    assert controller.statistics().recent_latency is None
    controller.on_sample(3.0, 0.5, 4)  # started at 2.5, but the window began at 0
    assert controller.statistics().recent_latency is not None


def test_a_cut_for_latency_is_at_most_a_half() -> None:
    controller = AdaptiveLimit(Adaptive(initial=40))
    window(controller, 10.0, 1.0, 40, 20)
    window(controller, 20.0, 1.0, 40, 20)  # probe at 20
    window(controller, 30.0, 1.0, 20, 20)  # back to 40
    assert controller.limit == 40
    window(controller, 100.0, 10.0, 40, 20)
    assert controller.limit == 20


def test_samples_admitted_before_a_change_do_not_count() -> None:
    controller = AdaptiveLimit(Adaptive(initial=20))
    controller.on_sample(1.0, 0.5, 20, dropped=True)  # limit 18 from t=1
    for _ in range(100):  # all started at t=0.5, before the change
        assert controller.on_sample(1.5, 1.0, 18) is None
    stats = controller.statistics()
    assert stats.recent_latency is None
    assert stats.baseline_latency is None


@pytest.mark.parametrize(("capacity", "initial"), [(20, 4), (20, 80), (100, 16), (100, 400)])
def test_queueing_model_converges_near_capacity(capacity: int, initial: int) -> None:
    controller = AdaptiveLimit(Adaptive(initial=initial))
    now = pipeline(controller, queueing(capacity), 0.0, 300.0)
    seen = []
    for _ in range(300):
        now = pipeline(controller, queueing(capacity), now, 1.0)
        seen.append(controller.limit)
    assert 0.9 * capacity <= min(seen)
    assert max(seen) <= 1.2 * capacity
    assert "latency rising" in reasons(controller)


def test_a_limit_started_above_capacity_is_found_by_probing_down() -> None:
    controller = AdaptiveLimit(Adaptive(initial=400))
    pipeline(controller, queueing(capacity=100), 0.0, 60.0)
    history = controller.statistics().history
    assert [(c.old, c.new, c.reason) for c in history[:4]] == [
        (400, 200, "baseline probe"),
        (200, 100, "baseline probe"),
        (100, 50, "baseline probe"),
        (50, 100, "baseline found"),  # 400 in flight at 4x the unloaded latency
    ]
    assert controller.statistics().baseline_latency == 1.0


def test_the_baseline_recovers_when_the_upstream_slows_down_for_good() -> None:
    controller = AdaptiveLimit(Adaptive(initial=16))
    now = pipeline(controller, queueing(capacity=50), 0.0, 300.0)
    assert 45 <= controller.limit <= 60
    # Twice as slow at every load: not queueing, so after a dip the limit comes back.
    now = pipeline(controller, queueing(capacity=50, base=2.0), now, 600.0)
    seen = []
    for _ in range(300):
        now = pipeline(controller, queueing(capacity=50, base=2.0), now, 2.0)
        seen.append(controller.limit)
    assert min(seen) >= 45
    assert max(seen) <= 60
    assert controller.statistics().baseline_latency == 2.0


def test_a_capacity_that_fell_is_found_by_probing_down() -> None:
    controller = AdaptiveLimit(Adaptive(initial=16))
    now = pipeline(controller, queueing(capacity=60), 0.0, 300.0)
    now = pipeline(controller, queueing(capacity=20), now, 100.0)
    seen = []
    for _ in range(200):
        now = pipeline(controller, queueing(capacity=20), now, 1.0)
        seen.append(controller.limit)
    assert min(seen) >= 18
    assert max(seen) <= 24
    assert controller.statistics().baseline_latency == 1.0


def test_a_capacity_that_rose_is_found_quickly() -> None:
    controller = AdaptiveLimit(Adaptive(initial=16))
    now = pipeline(controller, queueing(capacity=50), 0.0, 300.0)
    pipeline(controller, queueing(capacity=400), now, 100.0)
    assert 360 <= controller.limit <= 480


def test_history_is_bounded_and_unpacks_as_records() -> None:
    controller = AdaptiveLimit(Adaptive(initial=100, history=3))
    for step in range(10):
        controller.on_sample(float(step), 0.001, 1, dropped=True)
    history = controller.statistics().history
    assert len(history) == 3
    time, old, new, reason = history[-1]
    assert (time, reason) == (9.0, "drop")
    assert new < old
    assert [c.time for c in history] == [7.0, 8.0, 9.0]


def test_statistics_before_any_window() -> None:
    stats = AdaptiveLimit(Adaptive()).statistics()
    assert stats == sluice.AdaptiveStatistics(
        limit=16, phase="start", baseline_latency=None, recent_latency=None, drops=0, history=()
    )

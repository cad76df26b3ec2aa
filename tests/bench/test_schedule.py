"""The open model's schedule and pacer, on virtual time: sends happen at their instants."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from sluice.bench._schedule import arrivals, pace, plan_offsets


def test_constant_arrivals_are_evenly_spaced_from_the_phase() -> None:
    assert list(itertools.islice(arrivals(4.0), 4)) == [0.0, 0.25, 0.5, 0.75]
    shifted = list(itertools.islice(arrivals(2.0, phase=0.1), 3))
    assert shifted == pytest.approx([0.1, 0.6, 1.1])


def test_poisson_arrivals_are_seeded_increasing_and_at_the_rate() -> None:
    first = list(itertools.islice(arrivals(100.0, "poisson", seed=3), 20_000))
    again = list(itertools.islice(arrivals(100.0, "poisson", seed=3), 20_000))
    other = list(itertools.islice(arrivals(100.0, "poisson", seed=4), 20_000))
    assert first == again
    assert first != other
    assert all(b > a for a, b in itertools.pairwise(first))
    assert first[-1] / len(first) == pytest.approx(0.01, rel=0.05)  # mean gap 1 / rate


def test_arrivals_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="rate"):
        arrivals(0.0)
    with pytest.raises(ValueError, match="arrival kind"):
        arrivals(1.0, "bursty")


def test_plan_offsets_warmup_then_duration_or_count() -> None:
    by_time = list(plan_offsets(arrivals(2.0), warmup=1.0, duration=2.0))
    assert by_time == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    by_count = list(plan_offsets(arrivals(2.0), warmup=1.0, requests=3))
    assert by_count == [0.0, 0.5, 1.0, 1.5, 2.0]
    capped = list(plan_offsets(arrivals(2.0), warmup=0.0, requests=100, max_time=1.0))
    assert capped == [0.0, 0.5]


async def test_sends_happen_exactly_at_their_scheduled_instants() -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 10.0
    seen: list[tuple[float, float]] = []

    def fire(due: float) -> bool:
        seen.append((due, loop.time()))
        return True

    offsets = plan_offsets(arrivals(5.0), warmup=1.0, duration=2.0)
    stats = await pace(
        offsets, t0, fire, clock=loop.time, sleep=asyncio.sleep, measure_from=t0 + 1.0
    )
    assert [due for due, _ in seen] == pytest.approx([t0 + k * 0.2 for k in range(15)])
    assert all(now == due for due, now in seen)  # virtual time: exactly on schedule
    assert (stats.scheduled, stats.sent, stats.late, stats.dropped) == (10, 10, 0, 0)
    assert max(stats.lags) == 0.0


async def test_a_lagging_generator_is_counted_late() -> None:
    loop = asyncio.get_running_loop()

    async def oversleep(seconds: float) -> None:
        await asyncio.sleep(seconds + 0.005)  # a busy generator wakes 5 ms late

    stats = await pace(
        plan_offsets(arrivals(10.0), warmup=0.0, duration=1.0),
        loop.time(),
        lambda due: True,
        clock=loop.time,
        sleep=oversleep,
    )
    assert stats.sent == 10
    assert stats.late == 9  # all but the first, which was due at once
    assert max(stats.lags) == pytest.approx(0.005)


async def test_dropped_arrivals_and_stop() -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    calls = 0

    def fire(due: float) -> bool:
        nonlocal calls
        calls += 1
        return calls % 2 == 0  # every other arrival finds the cap full

    stats = await pace(
        plan_offsets(arrivals(10.0), warmup=0.0, duration=10.0),
        t0,
        fire,
        clock=loop.time,
        sleep=asyncio.sleep,
        stop=lambda: loop.time() >= t0 + 1.0,
    )
    assert stats.scheduled == 10  # the stop at t0 + 1 s ends the schedule
    assert (stats.sent, stats.dropped) == (5, 5)
    assert loop.time() == pytest.approx(t0 + 1.0)

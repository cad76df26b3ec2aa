"""Adaptive concurrency against simulated upstreams with a hidden capacity, on virtual time.

Each call needs 1 s of work (give or take 10 %). Callers outnumber the capacity three to one
and send their next call as soon as one ends, so the limit is always in use. Virtual time makes
a run of thousands of calls take a fraction of a second.
"""

from __future__ import annotations

import asyncio

import pytest

import sluice
from sluice.policies.adaptive import Adaptive
from tests.stages.adaptive_upstream import (
    AdaptiveDriver,
    QueueingUpstream,
    RejectingUpstream,
    closed_loop,
)

Upstream = QueueingUpstream | RejectingUpstream


def upstream_of(kind: str, capacity: int, seed: int = 7) -> Upstream:
    if kind == "queueing":
        return QueueingUpstream(capacity, seed=seed)
    return RejectingUpstream(capacity, seed=seed)


def settled_at(driver: AdaptiveDriver, capacity: int, within: float = 0.25) -> float:
    """The last time the limit was more than ``within`` away from ``capacity``."""
    low, high = (1 - within) * capacity, (1 + within) * capacity
    return max((t for t, limit in driver.trace if not low <= limit <= high), default=0.0)


@pytest.mark.parametrize("kind", ["queueing", "rejecting"])
@pytest.mark.parametrize(("capacity", "initial"), [(20, 5), (20, 80), (100, 16), (100, 400)])
async def test_converges_within_a_quarter_of_capacity_and_stays(
    kind: str, capacity: int, initial: int
) -> None:
    config = Adaptive(initial=initial)
    driver = AdaptiveDriver(config)
    upstream = upstream_of(kind, capacity)
    duration = 200.0
    await closed_loop(driver.run, upstream, workers=3 * max(capacity, initial), duration=duration)

    assert len(driver.trace) > 3_000
    tail = driver.limits(0.5)  # the limit after each of the last half of the outcomes
    assert 0.75 * capacity <= min(tail)
    assert max(tail) <= 1.25 * capacity
    assert 0.85 * capacity <= sum(tail) / len(tail) <= 1.15 * capacity
    assert config.min < min(tail)
    assert max(tail) < config.max  # never swinging between the bounds
    assert settled_at(driver, capacity) < 60.0
    # Close to capacity in throughput too (each call needs 1 s of a worker).
    assert driver.throughput(duration / 2, duration) >= 0.9 * capacity
    reasons = {change.reason for change in driver.controller.statistics().history}
    assert ("latency rising" if kind == "queueing" else "drop") in reasons


@pytest.mark.parametrize("kind", ["queueing", "rejecting"])
@pytest.mark.parametrize(("before", "after"), [(20, 60), (60, 20)])
async def test_follows_a_capacity_that_changes(kind: str, before: int, after: int) -> None:
    driver = AdaptiveDriver(Adaptive())
    upstream = upstream_of(kind, before)

    async def change() -> None:
        await asyncio.sleep(150.0)
        if isinstance(upstream, QueueingUpstream):
            upstream.set_capacity(after)
        else:
            upstream.capacity = after

    async with asyncio.TaskGroup() as group:
        group.create_task(change())
        group.create_task(closed_loop(driver.run, upstream, workers=180, duration=300.0))
    assert 150.0 < settled_at(driver, after) < 200.0
    tail = [limit for t, limit in driver.trace if t >= 200.0]
    assert 0.75 * after <= min(tail)
    assert max(tail) <= 1.25 * after


async def test_timeouts_are_drops() -> None:
    # Latency alone is ignored here: only the 1.5 s attempt timeout can stop the growth.
    driver = AdaptiveDriver(Adaptive(tolerance=None), timeout=1.5)
    upstream = QueueingUpstream(20)
    _, failed = await closed_loop(driver.run, upstream, workers=100, duration=200.0)
    stats = driver.controller.statistics()
    assert failed > 0
    assert stats.drops > 0
    assert "drop" in {change.reason for change in stats.history}
    tail = driver.limits(0.5)
    assert min(tail) >= 20
    assert max(tail) <= 1.5 * 20  # beyond that, every call times out


async def test_app_limited_traffic_does_not_grow_the_limit() -> None:
    driver = AdaptiveDriver(Adaptive(initial=16))
    # Seven callers never use half of the 16 permits, and calls are quick and flat.
    await closed_loop(driver.run, RejectingUpstream(1000), workers=7, duration=100.0)
    assert len(driver.trace) > 600
    assert driver.controller.limit == 16
    assert driver.controller.statistics().history == ()


async def test_waiting_for_a_permit_is_not_latency() -> None:
    # 500 callers queue for at most 64 permits; the upstream never slows down. Were the wait
    # counted as latency, the limit would be cut; it must grow to its maximum and stay.
    driver = AdaptiveDriver(Adaptive(initial=8, max=64))
    await closed_loop(driver.run, RejectingUpstream(1000), workers=500, duration=60.0)
    assert set(driver.limits(0.5)) == {64}
    reasons = {change.reason for change in driver.controller.statistics().history}
    assert reasons <= {"baseline probe", "baseline found", "slow start", "probe up"}


async def test_statistics_expose_the_limit_and_its_history() -> None:
    driver = AdaptiveDriver(Adaptive(initial=16))
    await closed_loop(driver.run, QueueingUpstream(20), workers=60, duration=100.0)
    stats = driver.controller.statistics()
    assert stats.limit == driver.limiter.limit == driver.controller.limit
    assert stats.phase == "steady"
    assert stats.baseline_latency is not None
    assert 0.9 <= stats.baseline_latency <= 1.0
    assert stats.recent_latency is not None
    assert 0 < len(stats.history) <= 100
    times = [change.time for change in stats.history]
    assert times == sorted(times)
    for _time, old, new, reason in stats.history:
        assert old != new
        assert reason in {
            "baseline probe",
            "baseline found",
            "slow start",
            "probe up",
            "latency rising",
            "drop",
        }


async def test_through_the_gate() -> None:
    gate = sluice.Gate("adaptive", concurrency=sluice.Adaptive(initial=5))
    upstream = QueueingUpstream(20)
    await closed_loop(gate.run, upstream, workers=60, duration=200.0)
    stats = gate.statistics()
    assert stats.concurrency_limit is not None
    assert 15 <= stats.concurrency_limit <= 25
    adaptive = stats.adaptive
    assert adaptive is not None
    assert adaptive.limit == stats.concurrency_limit
    assert adaptive.history
    assert isinstance(sluice.Gate(concurrency="auto").statistics().concurrency_limit, int)


async def test_rejecting_upstream_through_the_gate_with_retries() -> None:
    # 429-like refusals are drops; retries absorb them while the limit settles near capacity.
    gate = sluice.Gate(
        "adaptive-rejecting",
        concurrency=sluice.Adaptive(initial=80),
        retry=sluice.Retry(attempts=3, backoff=sluice.Backoff.constant(0.5), budget=None),
    )
    upstream = RejectingUpstream(20)
    await closed_loop(gate.run, upstream, workers=60, duration=200.0)
    limit = gate.statistics().concurrency_limit
    assert limit is not None
    assert 15 <= limit <= 25


async def test_map_on_an_adaptive_gate_lets_the_limit_grow() -> None:
    gate = sluice.Gate("adaptive-map", concurrency=sluice.Adaptive(initial=4, max=64))
    upstream = QueueingUpstream(40)

    async def call(item: int) -> None:
        await upstream()

    await gate.map(call, range(4000))
    limit = gate.statistics().concurrency_limit
    assert limit is not None
    assert limit > 8  # fan-out ran enough workers for the limit to grow toward capacity

"""Closed and open runners on virtual time, against scripted targets.

The open model measures from the scheduled send time, so a target that stalls shows in its
p99; the closed model coordinates with the stall and hides it (coordinated omission).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from sluice.bench._load import LevelJob, Phase, run_closed, run_job, run_open
from sluice.bench._stats import level_stats
from sluice.bench._sweep import SweepConfig, evaluate
from sluice.bench._targets import Reply, Send, TargetSpec

SERVICE = 0.01


def stalling_target(stalls: list[tuple[float, float]]) -> Send:
    """Answers in SERVICE seconds, except that nothing is answered while frozen in a stall."""
    loop = asyncio.get_running_loop()

    async def send() -> Reply:
        now = loop.time()
        done = now + SERVICE
        for start, end in stalls:
            if now < end and done > start:
                done = end + SERVICE
        await asyncio.sleep(done - now)
        return Reply(status=200)

    return send


def _config(model: str, levels: tuple[float, ...], max_in_flight: int = 10_000) -> SweepConfig:
    return SweepConfig(
        model=model,
        levels=levels,
        phase=Phase(),
        target=TargetSpec("http://127.0.0.1:9/v1"),
        max_in_flight=max_in_flight,
    )


async def test_open_model_latency_runs_from_the_schedule_and_shows_a_stall() -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 1.0
    send = stalling_target([(t0 + 2.0, t0 + 2.5)])
    phase = Phase(warmup=1.0, duration=4.0)
    run = await run_open(send, 100.0, phase, clock=loop.time, start_at=t0)
    samples = run.samples
    assert len(samples) == 400
    # Recorded as they finish; sorted, the starts are the schedule, and every send was on it.
    assert sorted(samples.start) == pytest.approx([t0 + 1.0 + k / 100 for k in range(400)])
    assert list(samples.sent) == list(samples.start)
    stats = level_stats(samples, run.window)
    assert run.window == 4.0
    assert stats.rps == 100.0
    assert stats.latency is not None
    assert stats.latency.p50 == pytest.approx(SERVICE)
    # Requests arriving during the half-second freeze wait for its end: ~50 of 400 requests,
    # so the 99th percentile sits inside the stall.
    assert stats.latency.p99 == pytest.approx(0.48, abs=0.011)
    assert stats.latency.max == pytest.approx(0.52, abs=0.011)
    assert run.pace is not None
    assert (run.pace.late, run.pace.dropped) == (0, 0)


async def test_closed_model_hides_the_same_stall_in_its_p99() -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 1.0
    send = stalling_target([(t0 + 2.0, t0 + 2.5)])
    run = await run_closed(send, 4, Phase(warmup=1.0, duration=4.0), clock=loop.time, start_at=t0)
    stats = level_stats(run.samples, run.window)
    assert stats.latency is not None
    # Only the 4 requests in flight saw the stall: the tail percentiles miss it entirely.
    assert stats.latency.max >= 0.49
    assert stats.latency.p99 == pytest.approx(SERVICE)
    assert stats.requests == pytest.approx(4 * 3.5 / SERVICE, rel=0.01)


async def test_a_lagging_generator_makes_an_open_level_invalid() -> None:
    loop = asyncio.get_running_loop()

    async def oversleep(seconds: float) -> None:
        await asyncio.sleep(seconds + 0.005)

    phase = Phase(warmup=0.5, duration=2.0)
    send = stalling_target([])
    run = await run_open(send, 50.0, phase, clock=loop.time, sleep=oversleep)
    result = evaluate(50.0, run, _config("open", (50.0,)))
    assert not result.valid
    assert result.schedule is not None
    assert result.schedule.late == result.schedule.sent
    assert "fell behind" in result.invalid_reasons[0]
    on_time = await run_open(send, 50.0, phase, clock=loop.time)
    assert evaluate(50.0, on_time, _config("open", (50.0,))).valid


async def test_in_flight_cap_drops_arrivals_and_invalidates_the_level() -> None:
    loop = asyncio.get_running_loop()

    async def slow() -> Reply:
        await asyncio.sleep(1.0)
        return Reply(status=200)

    run = await run_open(
        slow, 100.0, Phase(warmup=0.0, duration=1.0), clock=loop.time, max_in_flight=10
    )
    assert run.pace is not None
    assert run.pace.sent == 10
    assert run.pace.dropped == 90
    result = evaluate(100.0, run, _config("open", (100.0,), max_in_flight=10))
    assert not result.valid
    assert "dropped" in result.invalid_reasons[-1]


async def test_request_counts_instead_of_duration() -> None:
    loop = asyncio.get_running_loop()
    send = stalling_target([])
    phase = Phase(warmup=0.2, duration=None, requests=37)
    closed = await run_closed(send, 5, phase, clock=loop.time)
    assert len(closed.samples) == 37
    opened = await run_open(send, 200.0, phase, clock=loop.time)
    assert len(opened.samples) == 37
    # Window: from the end of the warm-up to the last measured answer.
    assert opened.window == pytest.approx(36 / 200 + SERVICE)


async def test_stop_ends_a_level_early_with_what_was_measured() -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    stop: Callable[[], bool] = lambda: loop.time() >= t0 + 3.0  # noqa: E731
    send = stalling_target([])
    phase = Phase(warmup=1.0, duration=60.0)
    run = await run_job(send, LevelJob("closed", 2, phase), clock=loop.time, stop=stop)
    assert run.interrupted
    assert run.window == pytest.approx(2.0, abs=0.11)
    assert len(run.samples) == pytest.approx(2 * 2.0 / SERVICE, rel=0.06)
    assert loop.time() < t0 + 3.5


async def test_a_target_that_never_answers_cannot_hold_the_level() -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()

    async def hang() -> Reply:
        await asyncio.sleep(1e9)
        return Reply()

    phase = Phase(warmup=0.0, duration=1.0, timeout=2.0)
    run = await run_closed(hang, 3, phase, clock=loop.time)
    assert run.abandoned == 3
    assert len(run.samples) == 0
    assert loop.time() - t0 <= phase.bound


async def test_bad_levels_are_refused() -> None:
    loop = asyncio.get_running_loop()
    send = stalling_target([])
    with pytest.raises(ValueError, match="users"):
        await run_closed(send, 0, Phase(), clock=loop.time)
    with pytest.raises(ValueError, match="rate"):
        await run_open(send, -1.0, Phase(), clock=loop.time)
    with pytest.raises(ValueError, match="exactly one"):
        Phase(duration=None)
    with pytest.raises(ValueError, match="level"):
        _config("closed", (0.0,))
    with pytest.raises(ValueError, match="whole"):
        _config("closed", (2.5,))

"""The closed model's request rate on virtual time: about users / mean latency, not a multiple
of whole cycles (users spread over one cycle instead of sending in lockstep)."""

from __future__ import annotations

import asyncio

import pytest

from sluice.bench._load import Phase, run_closed
from sluice.bench._samples import SampleSet
from sluice.bench._stats import level_stats
from sluice.bench._targets import Reply, Send

LATENCY = 0.202  # 10 users: 49.5 requests/s; 50 users: 247.5


def constant_target(latency: float = LATENCY) -> Send:
    async def send() -> Reply:
        await asyncio.sleep(latency)
        return Reply(status=200)

    return send


@pytest.mark.parametrize("users", [10, 50])
async def test_rps_is_users_over_mean_latency(users: int) -> None:
    loop = asyncio.get_running_loop()
    phase = Phase(warmup=1.0, duration=5.0)
    run = await run_closed(constant_target(), users, phase, clock=loop.time)
    stats = level_stats(run.samples, run.window)
    assert stats.latency is not None
    expected = users / stats.latency.mean
    assert expected == pytest.approx(users / LATENCY)
    # Sends form a lattice of spacing LATENCY / users: the count in the window is off by < 1.
    assert abs(stats.rps - expected) <= 1 / phase.duration + 1e-9
    # The starts in the window are spread: no two users send at the same instant.
    assert len(set(run.samples.start)) == len(run.samples)


async def test_without_a_warm_up_users_start_together_and_count_whole_cycles() -> None:
    loop = asyncio.get_running_loop()
    run = await run_closed(constant_target(), 10, Phase(warmup=0.0, duration=5.0), clock=loop.time)
    # 25 sends per user start in [0, 5 s): 50.0 requests/s where 10 / 0.202 s is 49.5.
    assert level_stats(run.samples, run.window).rps == pytest.approx(50.0)


async def test_processes_sharing_a_level_interleave_their_users() -> None:
    loop = asyncio.get_running_loop()
    phase = Phase(warmup=1.0, duration=5.0)
    start = loop.time()
    runs = await asyncio.gather(
        *(
            run_closed(constant_target(), 5, phase, clock=loop.time, start_at=start, offset=i / 2)
            for i in range(2)
        )
    )
    samples = SampleSet.merge(run.samples for run in runs)
    stats = level_stats(samples, runs[0].window)
    assert abs(stats.rps - 10 / LATENCY) <= 1 / phase.duration + 1e-9
    assert len(set(samples.start)) == len(samples)


async def test_a_slow_first_answer_spreads_the_users_over_half_the_warm_up_at_most() -> None:
    loop = asyncio.get_running_loop()
    calls = [0]

    async def send() -> Reply:
        calls[0] += 1
        await asyncio.sleep(3.0 if calls[0] == 1 else 0.01)
        return Reply(status=200)

    t0 = loop.time() + 1.0
    phase = Phase(warmup=1.0, duration=5.0)
    run = await run_closed(send, 4, phase, clock=loop.time, start_at=t0)
    # The first answer ended at 3 s; the users then started over 0.5 s, not over 3 s.
    # In [3, 3.5 s) user i sends from 3 + i * 0.125 s: about 50 + 37.5 + 25 + 12.5 requests.
    early = [t - t0 for t in run.samples.start if t - t0 < 3.5]
    assert min(early) == pytest.approx(3.0)
    assert 120 <= len(early) <= 130

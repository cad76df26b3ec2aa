"""Several generator processes: shares that add up to the level, raw samples merged."""

from __future__ import annotations

import itertools

import pytest

from sluice.bench._load import LevelJob, LevelRun, Phase
from sluice.bench._samples import OK, SampleSet
from sluice.bench._schedule import PaceStats, arrivals, plan_offsets
from sluice.bench._stats import level_stats, percentile
from sluice.bench._sweep import SweepConfig, run_sweep
from sluice.bench._targets import TargetSpec
from sluice.bench._workers import merge_runs, split_job
from sluice.sim import SimConfig, SimServer


def test_users_are_split_as_evenly_as_possible() -> None:
    job = LevelJob("closed", 10.0, Phase())
    assert [share.level for share in split_job(job, 3)] == [4.0, 3.0, 3.0]
    assert [share.level for share in split_job(LevelJob("closed", 2.0, Phase()), 4)] == [1.0, 1.0]
    assert split_job(job, 1) == [job]
    with pytest.raises(ValueError, match="workers"):
        split_job(job, 0)


def test_constant_rate_shares_interleave_into_the_whole_schedule() -> None:
    job = LevelJob("open", 300.0, Phase(), max_in_flight=900)
    shares = split_job(job, 3)
    assert [share.level for share in shares] == [100.0, 100.0, 100.0]
    assert [share.max_in_flight for share in shares] == [300, 300, 300]
    union = sorted(
        t
        for share in shares
        for t in plan_offsets(arrivals(share.level, phase=share.offset), warmup=0.0, duration=1.0)
    )
    whole = list(plan_offsets(arrivals(300.0), warmup=0.0, duration=1.0))
    assert union == pytest.approx(whole)


def test_poisson_shares_get_distinct_seeds() -> None:
    shares = split_job(LevelJob("open", 100.0, Phase(), arrival="poisson", seed=5), 2)
    assert len({share.seed for share in shares}) == 2
    first = [list(itertools.islice(arrivals(s.level, "poisson", seed=s.seed), 5)) for s in shares]
    assert first[0] != first[1]


def _run(latencies: list[float], lags: list[float]) -> LevelRun:
    samples = SampleSet()
    for latency in latencies:
        samples.add(start=0.0, sent=0.0, end=latency, outcome=OK)
    pace = PaceStats(scheduled=len(lags), sent=len(lags))
    pace.lags.extend(lags)
    return LevelRun(samples=samples, window=2.0, pace=pace)


def test_merged_percentiles_come_from_raw_samples_not_averages() -> None:
    fast = _run([0.01] * 99, [0.0] * 99)
    slow = _run([1.0], [0.003])
    merged = merge_runs([fast, slow])
    stats = level_stats(merged.samples, merged.window)
    assert stats.requests == 100
    assert stats.latency is not None
    # The average of the two p99s would be about 0.5 s; the merged samples say 0.01 s.
    assert stats.latency.p99 == percentile(sorted([0.01] * 99 + [1.0]), 99) == 0.01
    assert stats.latency.max == 1.0
    assert merged.pace is not None
    assert (merged.pace.sent, len(merged.pace.lags)) == (100, 100)


@pytest.mark.realtime
async def test_two_processes_drive_one_level() -> None:
    async with SimServer(SimConfig(ttft=0.02)) as sim:
        config = SweepConfig(
            model="closed",
            levels=(4.0,),
            phase=Phase(warmup=0.2, duration=0.6),
            target=TargetSpec(sim.base_url),
            workers=2,
        )
        result = await run_sweep(config)
    (level,) = result.levels
    assert level.valid
    assert level.stats.successes == level.stats.requests > 0
    assert len(level.health) == 2
    assert len({health.pid for health in level.health}) == 2

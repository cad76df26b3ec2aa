"""Statistics against hand-computed values: percentiles, rates, streaming figures, goodput."""

from __future__ import annotations

import math
import pickle

import pytest

from sluice.bench._samples import OK, SampleSet, outcome_code
from sluice.bench._stats import Slo, distribution, level_stats, parse_slo, percentile


def test_nearest_rank_percentiles_by_hand() -> None:
    values = [15.0, 20.0, 35.0, 40.0, 50.0]
    # rank = ceil(p/100 * 5): p5 -> 1, p30 -> 2 (1.5 up), p40 -> 2 (exactly 2), p50 -> 3
    assert percentile(values, 5) == 15
    assert percentile(values, 30) == 20
    assert percentile(values, 40) == 20
    assert percentile(values, 50) == 35
    assert percentile(values, 100) == 50
    assert percentile(values, 0) == 15


def test_percentiles_of_one_to_a_hundred() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, p) for p in (50, 95, 99, 100)] == [50, 95, 99, 100]
    thousand = [float(v) for v in range(1, 1001)]
    # 99.9 * 1000 / 100 is 999.0000000000001 in floating point: still rank 999.
    assert percentile(thousand, 99.9) == 999


def test_percentile_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        percentile([1.0], 101)


def test_distribution_summary() -> None:
    dist = distribution([0.4, 0.1, 0.3, 0.2])
    assert dist is not None
    assert (dist.count, dist.min, dist.max) == (4, 0.1, 0.4)
    assert dist.mean == pytest.approx(0.25)
    assert (dist.p50, dist.p90, dist.p99) == (0.2, 0.4, 0.4)
    assert distribution([]) is None


def _samples() -> SampleSet:
    samples = SampleSet()
    # Four successes of 0.1, 0.2, 0.3 and 0.4 s, one 429, one timeout.
    for i, latency in enumerate((0.1, 0.2, 0.3, 0.4)):
        samples.add(start=float(i), sent=float(i), end=i + latency, outcome=OK, status=200)
    samples.add(start=5.0, sent=5.0, end=5.01, outcome=outcome_code("429"), status=429, detail="x")
    samples.add(start=6.0, sent=6.0, end=16.0, outcome=outcome_code("timeout"))
    return samples


def test_rates_and_failure_classes() -> None:
    stats = level_stats(_samples(), window=2.0)
    assert stats.requests == 6
    assert stats.successes == 4
    assert stats.success_rate == pytest.approx(4 / 6)
    assert stats.rps == 3.0  # 6 requests / 2 s
    assert stats.ok_rps == 2.0
    assert stats.failures == {"429": 1, "timeout": 1}
    assert stats.errors == {"429": "x"}
    assert stats.latency is not None
    assert stats.latency.count == 4  # failures are not in the latency figures
    assert stats.latency.p50 == pytest.approx(0.2)
    assert stats.latency.max == pytest.approx(0.4)
    assert stats.latency.mean == pytest.approx(0.25)


def test_latency_from_scheduled_start_and_service_time_from_actual_send() -> None:
    samples = SampleSet()
    samples.add(start=0.0, sent=0.5, end=0.6, outcome=OK)  # sent 0.5 s late
    stats = level_stats(samples, window=1.0)
    assert stats.latency is not None
    assert stats.service_time is not None
    assert stats.latency.p50 == pytest.approx(0.6)
    assert stats.service_time.p50 == pytest.approx(0.1)


def _stream_samples() -> SampleSet:
    samples = SampleSet()
    # e2e 1.0 s, ttft 0.2 s, 5 tokens: tpot = 0.8 / 4 = 0.2 s; gaps 0.2 each.
    samples.add(start=0.0, sent=0.0, end=1.0, outcome=OK, ttft=0.2, tokens=5, gaps=[0.2] * 4)
    # e2e 0.5 s, ttft 0.1 s, 3 tokens: tpot = 0.4 / 2 = 0.2 s; gaps 0.1 and 0.3.
    samples.add(start=1.0, sent=1.0, end=1.5, outcome=OK, ttft=0.1, tokens=3, gaps=[0.1, 0.3])
    # one token only: no tpot; e2e 0.3
    samples.add(start=2.0, sent=2.0, end=2.3, outcome=OK, ttft=0.3, tokens=1)
    # a stream cut mid-way: its gaps do not count
    samples.add(
        start=3.0, sent=3.0, end=3.2, outcome=outcome_code("mid_stream"), ttft=0.1, gaps=[9.0]
    )
    return samples


def test_streaming_figures() -> None:
    stats = level_stats(_stream_samples(), window=4.0, stream=True)
    stream = stats.stream
    assert stream is not None
    assert stream.ttft is not None
    assert stream.tpot is not None
    assert stream.itl is not None
    assert stream.ttft.count == 3
    assert stream.ttft.p50 == pytest.approx(0.2)
    assert stream.tpot.count == 2
    assert stream.tpot.max == pytest.approx(0.2)
    assert stream.itl.count == 6
    assert stream.itl.max == pytest.approx(0.3)
    assert stream.output_tokens == 9
    assert stream.output_tokens_per_s == pytest.approx(9 / 4)


def test_goodput_counts_successes_meeting_every_slo() -> None:
    samples = _stream_samples()
    # ttft <= 0.25 s excludes the 0.3 s ttft; e2e <= 0.8 excludes the 1.0 s one.
    stats = level_stats(samples, window=4.0, stream=True, slo=Slo(ttft=0.25, e2e=0.8))
    assert stats.goodput == 1
    assert stats.goodput_rps == pytest.approx(0.25)
    assert stats.goodput_share == pytest.approx(0.25)
    # tpot <= 0.2 s: all three successes (the one-token answer has tpot 0).
    relaxed = level_stats(samples, window=4.0, stream=True, slo=Slo(tpot=0.2))
    assert relaxed.goodput == 3
    assert level_stats(samples, window=4.0).goodput is None


def test_parse_slo() -> None:
    assert parse_slo("ttft=0.5,e2e=5") == Slo(ttft=0.5, e2e=5.0)
    assert parse_slo("ttft=500ms, tpot=50ms") == Slo(ttft=0.5, tpot=0.05)
    assert parse_slo("e2el=2s") == Slo(e2e=2.0)
    for bad in ("", "ttft", "speed=3", "ttft=abc", "ttft=-1"):
        with pytest.raises(ValueError, match="SLO"):
            parse_slo(bad)


def test_samples_merge_by_concatenation_and_pickle() -> None:
    first, second = _samples(), _stream_samples()
    merged = SampleSet.merge([first, pickle.loads(pickle.dumps(second))])
    assert len(merged) == len(first) + len(second)
    assert len(merged.gaps) == 6
    # Percentiles of the merged raw samples, not an average of each part's percentiles.
    stats = level_stats(merged, window=1.0)
    expected = sorted(first.latencies() + second.latencies())
    assert stats.latency is not None
    assert stats.latency.p95 == percentile(expected, 95)
    assert math.isnan(merged.ttft[0])


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window"):
        level_stats(SampleSet(), window=0)
    empty = level_stats(SampleSet(), window=1.0)
    assert empty.requests == 0
    assert empty.success_rate is None
    assert empty.latency is None

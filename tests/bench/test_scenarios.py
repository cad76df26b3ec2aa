"""The demo's scenarios measure what they claim (real time, wide bounds)."""

from __future__ import annotations

import pytest

from sluice.bench import _scenarios as scenarios


@pytest.mark.realtime
async def test_blocking_calls_add_up_naively_and_overlap_through_a_gate() -> None:
    result = await scenarios.blocking_calls((0.3, 0.2))
    assert result.total == pytest.approx(0.5)
    assert result.naive_s >= 0.5  # one after the other, whatever the machine
    assert result.gated_s < result.naive_s
    assert result.gated_s < 0.5


@pytest.mark.realtime
async def test_rate_limited_fan_out_respects_its_limits() -> None:
    result = await scenarios.rate_limited_fan_out(calls=12, rps=40, burst=4, concurrency=3)
    assert result.peak_in_flight <= 3
    assert result.max_starts_per_second <= 40 + 4
    assert result.elapsed_s >= (12 - 4) / 40  # the pacing cannot be beaten


@pytest.mark.realtime
async def test_flaky_upstream_retries_and_breaker() -> None:
    result = await scenarios.flaky_upstream(
        calls=20, failure_rate=0.3, outage_calls=8, attempt_timeout=0.05
    )
    assert result.retried_successes >= result.plain_successes
    assert result.rejected_fast >= 1
    assert result.outage_with_breaker_s < result.outage_without_breaker_s


@pytest.mark.realtime
async def test_a_blocked_loop_is_caught_and_named() -> None:
    result = await scenarios.stalled_loop(blocked_s=0.2, threshold=0.05)
    assert len(result.stalls) == 1
    stall = result.stalls[0]
    assert stall.blocking.startswith("parse_report_synchronously (")
    assert "parse_report_synchronously" in stall.stack
    assert stall.duration >= 0.05  # at least the threshold: it was caught as a stall

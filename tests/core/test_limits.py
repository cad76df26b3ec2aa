"""Breaker, rate, concurrency and cooldown through the gate, in the order DESIGN.md fixes."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

import sluice
from tests.helpers import Flaky, Upstream


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_concurrency_bounds_calls_in_flight() -> None:
    upstream = Upstream(latency=1.0)
    gate = sluice.Gate(concurrency=3)
    await asyncio.gather(*(gate.run(upstream) for _ in range(10)))
    assert upstream.peak == 3
    assert now() == 4.0  # ceil(10 / 3) rounds of 1 s


async def test_overflow_is_an_overloaded_rejection() -> None:
    gate = sluice.Gate(concurrency=sluice.Concurrency(1, max_queue=1))
    upstream = Upstream(latency=1.0)
    outcomes = await asyncio.gather(*(gate.run(upstream) for _ in range(3)), return_exceptions=True)
    assert outcomes[:2] == ["ok", "ok"]
    assert isinstance(outcomes[2], sluice.OverloadedError)
    stats = gate.statistics()
    assert stats.rejected == {"queue_full": 1}
    assert stats.failed == 0


async def test_rate_limit_paces_starts_at_exact_instants() -> None:
    upstream = Upstream()
    gate = sluice.Gate(rate=sluice.Rate(rps=2, burst=2))
    await asyncio.gather(*(gate.run(upstream) for _ in range(6)))
    assert upstream.starts == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]


async def test_circuit_opens_rejects_then_probes_and_closes() -> None:
    breaker = sluice.Breaker(failure_rate=0.5, window=4, min_calls=4, open_for=30.0)
    gate = sluice.Gate("peer", breaker=breaker)
    upstream = Upstream(script=[Flaky()] * 4)
    for _ in range(4):
        with pytest.raises(Flaky):
            await gate.run(upstream)
    assert gate.statistics().breaker_state == "open"
    with pytest.raises(sluice.CircuitOpenError) as info:
        await gate.run(upstream)
    assert info.value.retry_after == 30.0
    assert len(upstream.starts) == 4
    await asyncio.sleep(30.0)
    assert gate.statistics().breaker_state == "half_open"
    assert await gate.run(upstream) == "ok"
    stats = gate.statistics()
    assert stats.breaker_state == "closed"
    assert stats.rejected == {"circuit_open": 1}
    assert stats.failed == 4


async def test_half_open_admits_exactly_the_configured_probes() -> None:
    breaker = sluice.Breaker(window=2, min_calls=2, open_for=5.0, half_open_probes=2)
    gate = sluice.Gate(breaker=breaker)
    for _ in range(2):
        with pytest.raises(Flaky):
            await gate.run(Upstream(script=[Flaky()]))
    await asyncio.sleep(5.0)
    upstream = Upstream(latency=1.0)
    outcomes = await asyncio.gather(*(gate.run(upstream) for _ in range(5)), return_exceptions=True)
    assert outcomes.count("ok") == 2
    assert sum(isinstance(o, sluice.CircuitOpenError) for o in outcomes) == 3
    assert upstream.peak == 2


async def test_cancellation_and_client_errors_do_not_trip_the_breaker() -> None:
    class BadRequest(Exception):
        retryable = False

    gate = sluice.Gate(breaker=sluice.Breaker(window=2, min_calls=2))
    for _ in range(3):
        with pytest.raises(BadRequest):
            await gate.run(Upstream(script=[BadRequest()]))
    for _ in range(3):
        task = asyncio.create_task(gate.run(Upstream(latency=10.0)))
        await asyncio.sleep(1.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    stats = gate.statistics()
    assert stats.breaker_state == "closed"
    assert stats.breaker is not None
    assert stats.breaker.calls_in_window == 0


async def test_timeouts_count_as_breaker_failures() -> None:
    gate = sluice.Gate(timeout=1.0, breaker=sluice.Breaker(window=2, min_calls=2))
    for _ in range(2):
        with pytest.raises(sluice.AttemptTimeout):
            await gate.run(Upstream(latency=5.0))
    assert gate.statistics().breaker_state == "open"


async def test_open_circuit_is_checked_before_waiting_for_rate_or_permits() -> None:
    gate = sluice.Gate(
        rate=sluice.Rate(rpm=1),
        breaker=sluice.Breaker(window=1, min_calls=1, open_for=100.0),
    )
    with pytest.raises(Flaky):
        await gate.run(Upstream(script=[Flaky()]))
    with pytest.raises(sluice.CircuitOpenError):
        await gate.run(Upstream())
    assert now() == 0.0  # rejected at once, not after the 60 s rate wait


async def test_overloaded_error_with_retry_after_pauses_the_whole_gate() -> None:
    gate = sluice.Gate(timeout=100.0)
    other = sluice.Gate()
    with pytest.raises(Flaky):
        await gate.run(Upstream(script=[Flaky("429", overloaded=True, retry_after=20.0)]))
    assert gate.statistics().paused_for == 20.0
    assert other.statistics().paused_for == 0.0  # a cooldown belongs to one gate
    upstream = Upstream()
    await asyncio.gather(gate.run(upstream), gate.run(upstream))
    assert upstream.starts == [20.0, 20.0]


async def test_overloaded_error_without_retry_after_does_not_pause() -> None:
    gate = sluice.Gate()
    with pytest.raises(Flaky):
        await gate.run(Upstream(script=[Flaky("503", overloaded=True)]))
    assert gate.statistics().paused_for == 0.0


async def test_cooldown_longer_than_the_deadline_fails_fast() -> None:
    gate = sluice.Gate(timeout=sluice.Timeout(total=5.0))
    gate.pause(30.0)
    with pytest.raises(sluice.DeadlineExceeded, match="paused for 30s"):
        await gate.run(Upstream())
    assert now() == 0.0


async def test_token_estimate_is_reserved_and_settled_from_the_result_usage() -> None:
    gate = sluice.Gate(rate=sluice.Rate(tpm=600, token_burst=100))  # 10 tokens/s

    async def completion() -> SimpleNamespace:
        return SimpleNamespace(usage=SimpleNamespace(total_tokens=20))

    await gate.run(completion, tokens=100)  # reserved 100, used 20: 80 refunded
    stats = gate.statistics()
    assert stats.rate is not None
    assert stats.rate.delay == 0.0
    start = now()
    await gate.run(completion, tokens=100)
    assert now() - start == pytest.approx(2.0)  # only the 20 really spent had to refill


async def test_usage_can_be_reported_from_inside_a_blocking_call() -> None:
    gate = sluice.Gate(rate=sluice.Rate(tpm=600, token_burst=100))

    def blocking() -> str:
        sluice.record_usage(100)
        return "text"

    await gate.run(blocking, tokens=10)  # estimated 10, really 100: the bucket is empty
    await gate.run(blocking, tokens=100)
    assert now() == pytest.approx(10.0)  # so a full 100 had to refill first


async def test_usage_from_a_mapping_result() -> None:
    gate = sluice.Gate(rate=sluice.Rate(tpm=600, token_burst=100))

    async def completion() -> dict[str, object]:
        return {"usage": {"total_tokens": 100}}

    await gate.run(completion, tokens=1)
    await gate.run(completion, tokens=100)
    assert now() == pytest.approx(10.0)


async def test_refused_call_gives_its_tokens_back() -> None:
    gate = sluice.Gate(rate=sluice.Rate(tpm=600, token_burst=100))
    with pytest.raises(Flaky):
        await gate.run(Upstream(script=[Flaky(overloaded=True)]), tokens=100)
    await gate.run(Upstream(), tokens=100)
    assert now() == 0.0


async def test_observed_limits_slow_a_gate_that_had_none() -> None:
    gate = sluice.Gate()
    upstream = Upstream()
    await gate.run(upstream)
    gate.observe_limits(requests_limit=60, requests_remaining=0, requests_reset=1.0)
    await gate.run(upstream)
    await gate.run(upstream)
    assert upstream.starts == [0.0, 1.0, 2.0]
    stats = gate.statistics()
    assert stats.rate is not None
    assert stats.rate.requests_per_second == 1.0


async def test_nothing_remaining_paces_at_the_refill_rate_not_until_the_reset() -> None:
    gate = sluice.Gate()
    gate.observe_limits(tokens_limit=1000, tokens_remaining=0, tokens_reset=60.0)
    upstream = Upstream()
    await gate.run(upstream, tokens=10)
    await gate.run(upstream, tokens=10)
    assert upstream.starts == pytest.approx([0.6, 1.2])  # 1,000 a minute: 10 tokens in 0.6 s


async def test_observation_without_limits_does_not_create_a_limiter() -> None:
    gate = sluice.Gate()
    gate.observe_limits(requests_remaining=5)
    assert gate.statistics().rate is None


async def test_waiting_for_a_rate_slot_holds_no_permit() -> None:
    # Rate comes before concurrency: a call paced to t=10 does not block the permit meanwhile.
    gate = sluice.Gate(concurrency=1, rate=sluice.Rate(rps=0.1, burst=1))
    slow = Upstream(latency=4.0)
    first = asyncio.create_task(gate.run(slow))  # slot at 0, holds the permit until 4
    await asyncio.sleep(0)
    second = asyncio.create_task(gate.run(slow))  # slot at 10
    await asyncio.sleep(5.0)
    stats = gate.statistics()
    assert stats.in_flight == 0  # the first finished at 4; the second waits for its slot
    assert stats.waiting == 0  # ... without queueing for a permit
    await asyncio.gather(first, second)
    assert slow.starts == [0.0, 10.0]

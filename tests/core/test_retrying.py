"""Retry through the gate: what is retried, how long it waits, what is raised at the end."""

from __future__ import annotations

import asyncio

import pytest

import sluice
from tests.helpers import Flaky, Upstream

CONSTANT = sluice.Backoff.constant(1.0)


async def test_retries_until_success_and_sleeps_the_backoff() -> None:
    upstream = Upstream(script=[TimeoutError(), ConnectionError(), "done"])
    gate = sluice.Gate(retry=sluice.Retry(attempts=3, backoff=CONSTANT))
    assert await gate.run(upstream) == "done"
    assert upstream.starts == [0.0, 1.0, 2.0]
    stats = gate.statistics()
    assert (stats.retried, stats.succeeded, stats.failed) == (2, 1, 0)


async def test_exhausted_attempts_raise_the_last_error_with_its_history() -> None:
    last = TimeoutError("third")
    upstream = Upstream(script=[TimeoutError("first"), TimeoutError("second"), last])
    gate = sluice.Gate("llm", retry=sluice.Retry(attempts=3, backoff=CONSTANT))
    with pytest.raises(TimeoutError) as info:
        await gate.run(upstream)
    assert info.value is last
    history = sluice.attempt_history(info.value)
    assert [a.number for a in history] == [1, 2, 3]
    assert [a.delay for a in history] == [1.0, 1.0, None]
    assert history[0].error == "TimeoutError('first')"
    assert "gate 'llm' stopped after 3 attempt(s): all 3 attempts used" in info.value.__notes__[0]
    assert gate.statistics().failed == 1


async def test_non_retryable_error_is_raised_at_once_without_notes() -> None:
    upstream = Upstream(script=[ValueError("bad input")])
    gate = sluice.Gate(retry=4)
    with pytest.raises(ValueError, match="bad input") as info:
        await gate.run(upstream)
    assert len(upstream.starts) == 1
    assert not getattr(info.value, "__notes__", None)


async def test_retry_after_is_waited_exactly() -> None:
    upstream = Upstream(script=[Flaky(retry_after=12.5)])
    gate = sluice.Gate(retry=sluice.Retry(attempts=2, backoff=CONSTANT))
    await gate.run(upstream)
    assert upstream.starts == [0.0, 12.5]


async def test_retry_after_beyond_the_maximum_is_raised() -> None:
    error = Flaky(retry_after=600)
    gate = sluice.Gate(retry=sluice.Retry(attempts=5, max_retry_after=120))
    with pytest.raises(Flaky) as info:
        await gate.run(Upstream(script=[error]))
    assert info.value is error
    assert "retry_after=600s exceeds max_retry_after=120s" in info.value.__notes__[0]


async def test_the_retry_budget_is_shared_by_the_whole_gate() -> None:
    budget = sluice.RetryBudget(percent=0.0, min_per_second=0.2, ttl=10.0)  # 2 retries per 10 s
    gate = sluice.Gate(retry=sluice.Retry(attempts=5, backoff=CONSTANT, budget=budget))
    upstream = Upstream(script=[TimeoutError()] * 20)
    outcomes = await asyncio.gather(*(gate.run(upstream) for _ in range(4)), return_exceptions=True)
    assert all(isinstance(o, TimeoutError) for o in outcomes)
    assert len(upstream.starts) == 4 + 2  # four first attempts, two retries in all
    assert gate.statistics().retried == 2
    noted = [o.__notes__[0] for o in outcomes if isinstance(o, BaseException)]
    assert sum("retry budget exhausted" in n for n in noted) == 4


async def test_no_budget_means_per_call_limits_only() -> None:
    gate = sluice.Gate(retry=sluice.Retry(attempts=3, backoff=CONSTANT, budget=None))
    upstream = Upstream(script=[TimeoutError()] * 30)
    await asyncio.gather(*(gate.run(upstream) for _ in range(10)), return_exceptions=True)
    assert len(upstream.starts) == 30


async def test_cancellation_is_never_retried_or_counted_as_failure() -> None:
    upstream = Upstream(latency=10.0)
    gate = sluice.Gate(retry=sluice.Retry(attempts=5, retry_on=BaseException))
    task = asyncio.create_task(gate.run(upstream))
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(upstream.starts) == 1
    stats = gate.statistics()
    assert (stats.cancelled, stats.failed, stats.retried, stats.active) == (1, 0, 0, 0)


async def test_backoff_sleep_holds_no_permit_and_no_rate_slot() -> None:
    gate = sluice.Gate(
        concurrency=1,
        rate=sluice.Rate(rps=1),
        retry=sluice.Retry(attempts=2, backoff=sluice.Backoff.constant(10.0)),
    )
    upstream = Upstream(script=[TimeoutError("first call fails")])
    failing = asyncio.create_task(gate.run(upstream))
    await asyncio.sleep(1.5)  # the first call failed at 0 and now sleeps until 10
    assert await gate.run(upstream) == "ok"  # the permit and the rate were free meanwhile
    assert asyncio.get_running_loop().time() == 1.5
    await failing
    assert upstream.starts == [0.0, 1.5, 10.0]


async def test_retry_shorthand_and_seeded_jitter_are_reproducible() -> None:
    async def delays(seed: int) -> list[float | None]:
        gate = sluice.Gate(retry=4, seed=seed)
        with pytest.raises(TimeoutError) as info:
            await gate.run(Upstream(script=[TimeoutError()] * 4))
        return [attempt.delay for attempt in sluice.attempt_history(info.value)]

    first = await delays(7)
    assert len(first) == 4
    assert first[-1] is None
    assert first == await delays(7)
    assert first != await delays(8)

"""Hedging and fallback through the gate."""

from __future__ import annotations

import asyncio

import pytest

import sluice
from sluice._stages.hedge_delay import HedgeDelay
from sluice.policies.hedge import Hedge
from tests.helpers import Flaky, Upstream


def now() -> float:
    return asyncio.get_running_loop().time()


class Replicas:
    """Each call is served by the next replica in ``latencies`` (seconds), cycling."""

    def __init__(self, *latencies: float) -> None:
        self.latencies = list(latencies)
        self.calls = 0
        self.cancelled = 0
        self.finished: list[int] = []

    async def __call__(self) -> int:
        replica = self.calls % len(self.latencies)
        self.calls += 1
        try:
            await asyncio.sleep(self.latencies[replica])
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished.append(replica)
        return replica


def warmed(hedge: Hedge, budget: float = 1.0) -> sluice.Gate:
    """A gate whose hedge budget already has room (budgets grow with traffic)."""
    gate = sluice.Gate(hedge=hedge)
    assert gate._kernel.hedger.budget is not None
    for _ in range(int(10 / budget)):
        gate._kernel.hedger.budget.deposit(0.0)
    return gate


async def test_slow_attempt_is_hedged_and_the_faster_one_wins() -> None:
    replicas = Replicas(10.0, 1.0)
    gate = warmed(Hedge(after=0.5, budget=1.0))
    assert await gate.run(replicas) == 1
    assert now() == 1.5  # hedge at 0.5, answered 1.0 later
    assert replicas.cancelled == 1  # the slow one was cancelled
    stats = gate.statistics()
    assert (stats.hedges, stats.hedge_wins, stats.succeeded) == (1, 1, 1)


async def test_fast_attempt_is_not_hedged() -> None:
    replicas = Replicas(0.2, 5.0)
    gate = warmed(Hedge(after=0.5, budget=1.0))
    assert await gate.run(replicas) == 0
    assert replicas.calls == 1
    assert gate.statistics().hedges == 0


async def test_up_to_max_extra_attempts_one_per_delay() -> None:
    replicas = Replicas(10.0, 10.0, 10.0, 0.1)
    gate = warmed(Hedge(after=1.0, max_extra=2, budget=1.0))
    assert await gate.run(replicas) == 0  # only three attempts: the primary wins at 10
    assert replicas.calls == 3
    assert now() == 10.0


async def test_a_failed_attempt_does_not_stop_the_others() -> None:
    calls: list[float] = []

    async def upstream() -> str:
        calls.append(now())
        if len(calls) == 1:
            await asyncio.sleep(2.0)
            raise Flaky("primary failed late")
        await asyncio.sleep(3.0)
        return "hedge answered"

    gate = warmed(Hedge(after=1.0, budget=1.0))
    assert await gate.run(upstream) == "hedge answered"
    assert calls == [0.0, 1.0]
    assert now() == 4.0


async def test_all_attempts_failing_raises_for_the_retry_loop() -> None:
    async def upstream() -> None:
        await asyncio.sleep(2.0)
        raise Flaky("down")

    gate = warmed(Hedge(after=1.0, budget=1.0))
    with pytest.raises(Flaky, match="down"):
        await gate.run(upstream)
    assert gate.statistics().hedges == 1


async def test_hedge_budget_caps_extra_attempts() -> None:
    gate = sluice.Gate(hedge=Hedge(after=0.5, budget=0.1))
    replicas = Replicas(1.0)
    for _ in range(50):
        await gate.run(replicas)
    # Each of the 50 calls earns 0.1 of an extra attempt: about 5 hedges, not 50.
    assert 3 <= gate.statistics().hedges <= 5
    assert replicas.calls == 50 + gate.statistics().hedges


async def test_hedge_losers_never_count_as_breaker_failures() -> None:
    gate = sluice.Gate(
        hedge=Hedge(after=0.5, budget=1.0), breaker=sluice.Breaker(window=2, min_calls=2)
    )
    assert gate._kernel.hedger.budget is not None
    for _ in range(100):
        gate._kernel.hedger.budget.deposit(0.0)
    for _ in range(5):
        await gate.run(Replicas(10.0, 0.1))
    stats = gate.statistics()
    assert stats.breaker_state == "closed"
    assert stats.breaker is not None
    assert stats.breaker.failure_rate == 0.0


async def test_percentile_delay_waits_for_enough_samples() -> None:
    gate = sluice.Gate(hedge=Hedge(after="p95", min_samples=20, budget=1.0))
    assert gate._kernel.hedger.budget is not None
    for _ in range(100):
        gate._kernel.hedger.budget.deposit(0.0)
    for _ in range(19):
        await gate.run(Upstream(latency=1.0))
    slow = Replicas(30.0, 1.0)
    start = now()
    assert await gate.run(slow) == 0  # 19 samples: no hedging yet
    assert now() - start == 30.0
    slow = Replicas(30.0, 1.0)
    start = now()
    assert await gate.run(slow) == 1  # p95 of known latencies is 1.0 s: hedge after 1 s
    assert now() - start == 2.0


def test_hedge_delay_percentile_refreshes_periodically() -> None:
    delay = HedgeDelay(Hedge(after="p50", min_samples=1))
    assert delay.current() is None
    for value in (1.0, 2.0, 3.0):
        delay.record(value)
    assert delay.current() == 2.0
    for _ in range(HedgeDelay.REFRESH_EVERY):
        delay.record(10.0)
    assert delay.current() == 10.0
    assert HedgeDelay(Hedge(after=0.25)).current() == 0.25


async def test_cancelling_a_hedged_call_cancels_every_attempt() -> None:
    replicas = Replicas(10.0, 10.0)
    gate = warmed(Hedge(after=1.0, budget=1.0))
    task = asyncio.create_task(gate.run(replicas))
    await asyncio.sleep(2.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert replicas.cancelled == 2
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"after": 0}, "Hedge(after=...) must be a finite number > 0"),
        ({"after": "p42"}, "Hedge(after=...) must be a number of seconds or one of 'p50'"),
        ({"max_extra": 0}, "Hedge(max_extra=...) must be an integer >= 1"),
        ({"budget": 0}, "Hedge(budget=...) must be a number in (0, 1]"),
        ({"min_samples": 0}, "Hedge(min_samples=...) must be an integer >= 1"),
    ],
)
def test_bad_hedge_configuration(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(sluice.ConfigError) as info:
        Hedge(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_gate_refuses_a_bad_hedge() -> None:
    with pytest.raises(sluice.ConfigError, match=r"Gate\(hedge=...\) must be a sluice.Hedge"):
        sluice.Gate(hedge=0.5)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- fallback
async def test_fallback_value_replaces_a_final_failure() -> None:
    gate = sluice.Gate(retry=2, fallback="degraded answer")
    assert await gate.run(Upstream(script=[TimeoutError(), TimeoutError()])) == "degraded answer"
    stats = gate.statistics()
    assert (stats.fallbacks, stats.failed, stats.succeeded) == (1, 1, 0)


async def test_fallback_callable_receives_the_error() -> None:
    gate = sluice.Gate(fallback=lambda exc: f"fallback for {type(exc).__name__}")
    assert await gate.run(Upstream(script=[KeyError("k")])) == "fallback for KeyError"


async def test_async_fallback_is_awaited() -> None:
    async def cached_answer(exc: BaseException) -> str:
        await asyncio.sleep(0.1)
        return "from cache"

    gate = sluice.Gate(fallback=cached_answer)
    assert await gate.run(Upstream(script=[Flaky()])) == "from cache"


async def test_per_call_fallback_overrides_the_gates() -> None:
    gate = sluice.Gate(fallback="gate default")
    assert await gate.run(Upstream(script=[Flaky()]), fallback="per call") == "per call"


async def test_fallback_covers_rejections_and_deadlines() -> None:
    gate = sluice.Gate(
        breaker=sluice.Breaker(window=1, min_calls=1),
        timeout=sluice.Timeout(attempt=1.0, total=10.0),
        fallback=lambda exc: type(exc).__name__,
    )
    assert await gate.run(Upstream(latency=5.0)) == "AttemptTimeout"  # and the circuit opens
    assert await gate.run(Upstream()) == "CircuitOpenError"
    deadline_only = sluice.Gate(timeout=sluice.Timeout(total=1.0), fallback=lambda e: "late")
    assert await deadline_only.run(Upstream(latency=5.0)) == "late"


async def test_a_deadline_cut_is_neutral_to_the_breaker() -> None:
    # The caller's budget ran out, which says nothing about the upstream's health.
    gate = sluice.Gate(
        breaker=sluice.Breaker(window=1, min_calls=1), timeout=sluice.Timeout(total=1.0)
    )
    with pytest.raises(sluice.DeadlineExceeded):
        await gate.run(Upstream(latency=5.0))
    assert gate.statistics().breaker_state == "closed"


async def test_fallback_never_swallows_cancellation() -> None:
    gate = sluice.Gate(fallback="nope")
    task = asyncio.create_task(gate.run(Upstream(latency=10.0)))
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gate.statistics().fallbacks == 0


async def test_run_outcome_reports_a_fallback_as_ok() -> None:
    gate = sluice.Gate(fallback=0)
    outcome = await gate.run_outcome(Upstream(script=[Flaky()]))
    assert outcome.ok
    assert outcome.value == 0

"""Construction, statistics, decoration and the fast path."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

import sluice
from tests.helpers import Flaky, Upstream


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": ""}, "Gate(name=...) must be a non-empty string"),
        ({"concurrency": -1}, "Concurrency(limit=...) must be an integer >= 1"),
        ({"rate": 10}, "Gate(rate=...) must be a sluice.Rate or None"),
        ({"retry": "3"}, "Gate(retry=...) must be a sluice.Retry, a number of attempts"),
        ({"retry": 0}, "Retry(attempts=...) must be an integer >= 1"),
        ({"timeout": -5}, "Timeout(attempt=...) must be a finite number > 0"),
        ({"breaker": True}, "Gate(breaker=...) must be a sluice.Breaker or None"),
        ({"threads": 0}, "Gate(threads=...) must be an integer >= 1"),
        ({"processes": 1.5}, "Gate(processes=...) must be an integer >= 1"),
        ({"clock": object()}, "Gate(clock=...) must have now() and sleep()"),
    ],
)
def test_bad_configuration_fails_at_construction(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(sluice.ConfigError) as info:
        sluice.Gate(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


async def test_statistics_snapshot() -> None:
    gate = sluice.Gate(
        "stats",
        concurrency=2,
        rate=sluice.Rate(rps=10),
        retry=sluice.Retry(attempts=2, backoff=sluice.Backoff.constant(1.0)),
    )
    upstream = Upstream(latency=0.5, script=["a", TimeoutError(), "b", ValueError()])
    outcomes = await asyncio.gather(*(gate.run(upstream) for _ in range(3)), return_exceptions=True)
    stats = gate.statistics()
    assert stats.name == "stats"
    assert stats.calls_started == 3
    assert stats.succeeded + stats.failed == 3
    assert stats.retried == 1
    assert stats.active == stats.in_flight == stats.waiting == 0
    assert stats.concurrency_limit == 2
    assert stats.latency.count == stats.succeeded
    assert stats.latency.p50 is not None
    assert stats.latency.max is not None
    assert stats.latency.p50 <= stats.latency.p99 <= stats.latency.max  # type: ignore[operator]
    assert sum(isinstance(o, BaseException) for o in outcomes) == stats.failed
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.succeeded = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        stats.rejected["x"] = 1  # type: ignore[index]


async def test_statistics_while_calls_run() -> None:
    gate = sluice.Gate(concurrency=1)
    upstream = Upstream(latency=5.0)
    tasks = [asyncio.create_task(gate.run(upstream)) for _ in range(3)]
    await asyncio.sleep(1.0)
    stats = gate.statistics()
    assert (stats.active, stats.in_flight, stats.waiting) == (3, 1, 2)
    await asyncio.gather(*tasks)


def test_statistics_outside_a_loop() -> None:
    gate = sluice.Gate(rate=sluice.Rate(rps=1), breaker=sluice.Breaker())
    stats = gate.statistics()
    assert stats.breaker_state == "closed"
    assert stats.rate_delay == 0.0
    assert stats.latency.count == 0
    assert stats.latency.p50 is None


async def test_latency_is_recorded_per_successful_call() -> None:
    gate = sluice.Gate()
    for latency in (1.0, 2.0, 3.0, 4.0):
        await gate.run(Upstream(latency=latency))
    summary = gate.statistics().latency
    assert (summary.count, summary.mean, summary.p50, summary.p90, summary.max) == (
        4,
        2.5,
        2.0,
        4.0,
        4.0,
    )


async def test_plain_gate_passes_calls_through() -> None:
    gate = sluice.Gate()
    assert await gate.run(Upstream(script=[42])) == 42
    with pytest.raises(Flaky):
        await gate.run(Upstream(script=[Flaky()]))
    stats = gate.statistics()
    assert (stats.succeeded, stats.failed) == (1, 1)


async def test_wrap_decorates_a_function() -> None:
    gate = sluice.Gate(retry=sluice.Retry(attempts=2, backoff=sluice.Backoff.constant(0.5)))
    calls: list[str] = []

    @gate.wrap
    async def ask(prompt: str) -> str:
        """Ask a model."""
        calls.append(prompt)
        if len(calls) == 1:
            raise ConnectionError("reset")
        return prompt.upper()

    assert await ask("hi") == "HI"
    assert calls == ["hi", "hi"]
    assert ask.__name__ == "ask"
    assert ask.__doc__ == "Ask a model."


async def test_tokens_keyword_is_not_passed_to_the_function() -> None:
    async def echo(**kwargs: object) -> dict[str, object]:
        return kwargs

    gate = sluice.Gate(rate=sluice.Rate(tpm=1000))
    assert await gate.run(echo, tokens=5, model="m") == {"model": "m"}


def test_repr_names_the_policies() -> None:
    text = repr(sluice.Gate("llm", concurrency=8, timeout=3.0, rate=sluice.Rate(rps=1)))
    assert text.startswith("Gate('llm', concurrency=8, timeout=Timeout(attempt=3.0")
    assert "rate=" in text
    assert repr(sluice.Gate()) == "Gate('gate')"


async def test_a_gate_outlives_one_event_loop() -> None:
    # A module-level gate used from successive asyncio.run() calls keeps working.
    gate = sluice.Gate(concurrency=1, rate=sluice.Rate(rps=1000))
    for _ in range(2):
        assert await gate.run(Upstream()) == "ok"


def test_a_gate_serves_successive_loops() -> None:
    gate = sluice.Gate(concurrency=1, retry=2)
    for _ in range(3):
        assert asyncio.run(gate.run(Upstream())) == "ok"


async def test_run_outcome_captures_success_failure_and_attempts() -> None:
    gate = sluice.Gate(retry=sluice.Retry(attempts=3, backoff=sluice.Backoff.constant(1.0)))
    ok = await gate.run_outcome(Upstream(latency=0.5, script=[TimeoutError(), "v"]))
    assert ok.ok
    assert ok.unwrap() == "v"
    assert ok.value == "v"
    assert ok.error is None
    assert ok.attempts == 2
    assert ok.elapsed == 2.0
    err = await gate.run_outcome(Upstream(script=[ValueError("no")]))
    assert not err.ok
    assert isinstance(err.error, ValueError)
    assert err.value is None
    assert err.attempts == 1
    with pytest.raises(ValueError, match="no"):
        err.unwrap()


async def test_run_outcome_counts_only_its_own_gates_attempts() -> None:
    inner = sluice.Gate(retry=sluice.Retry(attempts=3, backoff=sluice.Backoff.constant(0.1)))
    outer = sluice.Gate(retry=2)
    outcome = await outer.run_outcome(inner.run, Upstream(script=[TimeoutError(), TimeoutError()]))
    assert outcome.ok
    assert outcome.attempts == 1


async def test_run_outcome_lets_cancellation_through() -> None:
    gate = sluice.Gate()
    task = asyncio.create_task(gate.run_outcome(Upstream(latency=10.0)))
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_the_hot_path_creates_no_closures() -> None:
    # A closure inside `run` turns its locals into cells on every call, which once cost more
    # than all the policies together; keep closures in helpers off the hot path.
    assert sluice.Gate.run.__code__.co_cellvars == ()
    assert sluice.Gate.run.__code__.co_freevars == ()


async def test_a_gate_with_every_policy_is_freed_as_soon_as_it_is_dropped() -> None:
    # No reference cycle between a gate's parts: the kernel (and with it the executors and
    # their threads) goes when the last reference does, without waiting for the collector.
    import gc
    import weakref

    gate = sluice.Gate(
        concurrency=2,
        rate=sluice.Rate(rps=100),
        retry=3,
        timeout=sluice.Timeout(attempt=1.0, total=2.0),
        breaker=sluice.Breaker(),
        hedge=sluice.Hedge(after=0.5),
        cache=True,
    )
    assert await gate.run(Upstream()) == "ok"
    kernel = weakref.ref(gate._kernel)
    gc.disable()
    try:
        del gate
        assert kernel() is None
    finally:
        gc.enable()

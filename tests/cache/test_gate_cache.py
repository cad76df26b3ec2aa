"""The cache as the gate's outermost policy."""

from __future__ import annotations

import asyncio

import pytest

import sluice
from sluice.stores import MemoryStore
from tests.helpers import Flaky


class Counter:
    def __init__(self, latency: float = 1.0) -> None:
        self.calls = 0
        self.latency = latency

    async def __call__(self, prompt: str) -> str:
        self.calls += 1
        await asyncio.sleep(self.latency)
        return prompt.upper()


class Failing:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, prompt: str) -> str:
        self.calls += 1
        raise Flaky("down")


async def test_hit_skips_every_policy() -> None:
    upstream = Counter()
    gate = sluice.Gate(cache=sluice.Cache(ttl=60), rate=sluice.Rate(rpm=1))
    assert await gate.run(upstream, "hi") == "HI"
    start = asyncio.get_running_loop().time()
    assert await gate.run(upstream, "hi") == "HI"  # no 60 s rate wait, no call
    assert asyncio.get_running_loop().time() == start
    assert upstream.calls == 1
    stats = gate.statistics()
    assert stats.cache is not None
    assert (stats.cache.hits, stats.cache.misses) == (1, 1)
    assert stats.succeeded == 2


async def test_identical_calls_in_flight_share_one_execution() -> None:
    upstream = Counter(latency=2.0)
    gate = sluice.Gate(cache=True, concurrency=10)
    results = await asyncio.gather(*(gate.run(upstream, "x") for _ in range(5)))
    assert results == ["X"] * 5
    assert upstream.calls == 1
    stats = gate.statistics()
    assert stats.cache is not None
    assert stats.cache.coalesced == 4


async def test_ttl_expires_on_the_gates_clock() -> None:
    upstream = Counter(latency=0.0)
    gate = sluice.Gate(cache=sluice.Cache(ttl=30, store=MemoryStore()))
    await gate.run(upstream, "a")
    await asyncio.sleep(29.0)
    await gate.run(upstream, "a")
    assert upstream.calls == 1
    await asyncio.sleep(1.0)
    await gate.run(upstream, "a")
    assert upstream.calls == 2


async def test_errors_and_fallback_answers_are_never_cached() -> None:
    upstream = Failing()
    gate = sluice.Gate(cache=True, fallback="degraded")
    assert await gate.run(upstream, "q") == "degraded"
    assert await gate.run(upstream, "q") == "degraded"
    assert upstream.calls == 2  # the degraded answer was not stored
    stats = gate.statistics()
    assert stats.cache is not None
    assert stats.cache.sets == 0


async def test_a_key_that_cannot_be_built_is_not_answered_by_the_fallback() -> None:
    captured = "context"

    async def closure(prompt: str) -> str:
        return captured + prompt

    gate = sluice.Gate(cache=True, fallback="degraded")
    with pytest.raises(TypeError, match="key="):
        await gate.run(closure, "q")
    assert gate.statistics().calls_started == 0


async def test_a_cancelled_caller_does_not_cancel_the_shared_call() -> None:
    upstream = Counter(latency=5.0)
    gate = sluice.Gate(cache=True)
    first = asyncio.create_task(gate.run(upstream, "z"))
    second = asyncio.create_task(gate.run(upstream, "z"))
    await asyncio.sleep(1.0)
    first.cancel()
    assert await second == "Z"
    assert upstream.calls == 1
    assert first.cancelled()


async def test_each_caller_has_its_own_deadline() -> None:
    upstream = Counter(latency=5.0)
    gate = sluice.Gate(cache=True)
    patient = asyncio.create_task(gate.run(upstream, "d"))
    impatient = sluice.Gate("outer", timeout=sluice.Timeout(total=1.0))
    with pytest.raises(sluice.DeadlineExceeded):
        await impatient.run(gate.run, upstream, "d")
    assert await patient == "D"  # the shared call went on for the patient caller


async def test_closing_the_gate_closes_its_cache() -> None:
    gate = sluice.Gate(cache=True)
    await gate.run(Counter(latency=0.0), "c")
    await gate.aclose()
    with pytest.raises(sluice.GateClosedError):
        await gate.run(Counter(), "c")


def test_bad_cache_argument() -> None:
    with pytest.raises(sluice.ConfigError, match=r"Gate\(cache=...\) must be a sluice.Cache"):
        sluice.Gate(cache="yes")  # type: ignore[arg-type]

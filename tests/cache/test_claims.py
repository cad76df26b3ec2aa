"""Single-flight across processes through a store's claims, on virtual time.

Two `CacheRunner` objects on one store stand for two processes: each has its own in-process
single-flight, so only the store's claims can keep them from computing the same key twice.
"""

from __future__ import annotations

import asyncio
import logging
import math

import pytest

import sluice
from sluice._cache.claims import claim_seconds
from sluice._cache.runner import CacheRunner
from sluice.stores import MemoryStore
from tests.cache.test_runner import Upstream, call
from tests.helpers import Flaky


class ClaimingStore(MemoryStore):
    """A store shared by several "processes", whose claims expire on the loop's clock."""

    def __init__(self, lock_for: float | None = 5.0) -> None:
        super().__init__()
        self.lock_for = lock_for
        self.held: dict[str, float] = {}  # key -> expiry instant
        self.claims = 0
        self.releases = 0
        self.broken = False

    async def claim(self, key: str, seconds: float) -> bool:
        if self.broken:
            raise ConnectionError("claims are down")
        self.claims += 1
        now = asyncio.get_running_loop().time()
        if self.held.get(key, -math.inf) > now:
            return False
        self.held[key] = now + seconds
        return True

    async def release(self, key: str) -> None:
        self.releases += 1
        self.held.pop(key, None)


class ClaimsWithoutRelease(MemoryStore):
    lock_for = 5.0

    async def claim(self, key: str, seconds: float) -> bool:
        return True


def two_processes(store: ClaimingStore) -> tuple[CacheRunner, CacheRunner]:
    return (
        CacheRunner(sluice.Cache(store=store), namespace="t"),
        CacheRunner(sluice.Cache(store=store), namespace="t"),
    )


async def close(*runners: CacheRunner) -> None:
    for runner in runners:
        await runner.aclose()


def test_a_store_offers_claims_only_with_lock_for_and_both_methods() -> None:
    assert claim_seconds(ClaimingStore(lock_for=2)) == 2.0
    assert claim_seconds(ClaimingStore(lock_for=None)) is None
    assert claim_seconds(MemoryStore()) is None
    assert claim_seconds(ClaimsWithoutRelease()) is None


async def test_without_lock_for_each_process_computes() -> None:
    store = ClaimingStore(lock_for=None)
    upstream = Upstream(latency=2.0)
    first, second = two_processes(store)
    assert await asyncio.gather(call(first, upstream), call(second, upstream)) == ["ok", "ok"]
    assert upstream.calls == 2
    assert store.claims == 0  # the capability is off: the store is used as any other
    await close(first, second)


async def test_one_process_computes_and_the_other_waits_for_its_value() -> None:
    loop = asyncio.get_running_loop()
    store = ClaimingStore(lock_for=30.0)
    upstream = Upstream({"answer": 1}, latency=2.0)
    first, second = two_processes(store)
    results = await asyncio.gather(call(first, upstream), call(second, upstream))
    assert results == [{"answer": 1}, {"answer": 1}]
    assert upstream.calls == 1
    assert 2.0 <= loop.time() <= 2.1  # the waiter saw the value soon after it was stored
    assert store.held == {}  # released once stored
    stats = second.statistics()
    assert (stats.hits, stats.misses, stats.sets) == (0, 1, 0)
    await close(first, second)


async def test_when_the_holder_fails_a_waiter_takes_over() -> None:
    store = ClaimingStore(lock_for=30.0)
    failing = Upstream(latency=1.0, error=Flaky("down"))
    working = Upstream("late", latency=1.0)
    first, second = two_processes(store)
    holder = asyncio.ensure_future(call(first, failing))
    await asyncio.sleep(0)  # the holder claims first
    waiter = asyncio.ensure_future(call(second, working))
    with pytest.raises(Flaky):
        await holder
    assert await waiter == "late"
    assert asyncio.get_running_loop().time() < 2.2  # not held up until lock_for
    assert (failing.calls, working.calls) == (1, 1)
    await close(first, second)


async def test_after_lock_for_a_waiter_computes_itself() -> None:
    loop = asyncio.get_running_loop()
    store = ClaimingStore(lock_for=3.0)
    slow = Upstream("slow", latency=10.0)
    quick = Upstream("quick", latency=1.0)
    first, second = two_processes(store)
    holder = asyncio.ensure_future(call(first, slow))
    await asyncio.sleep(0)
    assert await call(second, quick) == "quick"
    assert loop.time() == 4.0  # waited lock_for, then computed for one second
    assert await holder == "slow"
    await close(first, second)


async def test_a_claim_held_longer_than_lock_for_is_not_waited_out() -> None:
    store = ClaimingStore(lock_for=3.0)
    upstream = Upstream("mine")
    runner = CacheRunner(sluice.Cache(store=store), namespace="t")
    key = runner.key_for(upstream, (), {})
    store.held[key] = 100.0  # a process configured with a longer lock_for
    assert await call(runner, upstream) == "mine"
    assert asyncio.get_running_loop().time() == 3.0
    assert store.held == {key: 100.0}  # computed without the turn: nothing to release
    await runner.aclose()


class LandsWhileClaiming(ClaimingStore):
    """Another process stores the value and releases just before this one's claim."""

    async def claim(self, key: str, seconds: float) -> bool:
        await self.set(key, b'"theirs"', None)
        return await super().claim(key, seconds)


async def test_a_value_stored_just_before_the_claim_is_taken_not_recomputed() -> None:
    store = LandsWhileClaiming()
    upstream = Upstream("mine")
    runner = CacheRunner(sluice.Cache(store=store), namespace="t")
    assert await call(runner, upstream) == "theirs"
    assert upstream.calls == 0
    assert store.held == {}
    await runner.aclose()


class FailsAfterFirstRead(ClaimingStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get(self, key: str) -> bytes | None:
        self.reads += 1
        if self.reads > 1:
            raise ConnectionError("reads are down")
        return await super().get(key)

    async def release(self, key: str) -> None:
        await super().release(key)
        raise ConnectionError("releases are down")


async def test_store_errors_while_claiming_end_in_computing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="sluice")
    store = FailsAfterFirstRead()
    upstream = Upstream()
    runner = CacheRunner(sluice.Cache(store=store), namespace="t")
    assert await call(runner, upstream) == "ok"
    assert upstream.calls == 1
    assert runner.statistics().store_errors == 2
    assert "store read failed" in caplog.text
    assert "store release failed" in caplog.text
    assert "Claims(" in repr(runner._claims)
    await runner.aclose()


async def test_a_failing_claim_computes_without_waiting(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sluice")
    store = ClaimingStore()
    store.broken = True
    upstream = Upstream()
    runner = CacheRunner(sluice.Cache(store=store), namespace="t")
    assert await call(runner, upstream) == "ok"
    assert await call(runner, upstream) == "ok"  # stored all the same: a hit
    assert upstream.calls == 1
    assert runner.statistics().store_errors == 1
    assert "store claim failed" in caplog.text
    await runner.aclose()


async def test_an_undecodable_value_is_not_taken_from_another_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="sluice")
    store = ClaimingStore(lock_for=30.0)
    upstream = Upstream("fresh")
    runner = CacheRunner(sluice.Cache(store=store), namespace="t")
    key = runner.key_for(upstream, (), {})
    store.held[key] = 1.0  # another process holds the turn for a second...

    async def other_process() -> None:
        await asyncio.sleep(0.5)
        await store.set(key, b"\xff not json", None)  # ...stores what this one cannot read

    other = asyncio.ensure_future(other_process())
    assert await call(runner, upstream) == "fresh"
    await other
    assert upstream.calls == 1
    assert asyncio.get_running_loop().time() >= 1.0  # it computed once the turn was free
    assert "store decode failed" in caplog.text
    await runner.aclose()


async def test_a_cancelled_holder_releases_its_claim() -> None:
    store = ClaimingStore(lock_for=30.0)
    upstream = Upstream(latency=10.0)
    runner = CacheRunner(sluice.Cache(store=store), namespace="t")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.0):
            await call(runner, upstream)
    await asyncio.sleep(0)  # the abandoned shared call unwinds
    assert upstream.cancelled == 1
    assert store.held == {}
    assert store.releases == 1
    await runner.aclose()

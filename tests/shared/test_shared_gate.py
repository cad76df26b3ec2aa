"""Gates that share their state through a real Redis, seen from one process.

Two `RedisState` stores stand for two processes: each has its own connections, outbox and
local fallback, and they meet only in Redis. (tests/shared/test_processes.py runs real
processes.)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import sluice
from sluice.stores._redis_state import RedisState
from tests.redis_server import RedisServer
from tests.shared.clock import server_time

pytestmark = pytest.mark.realtime

_names = itertools.count()


def _name() -> str:
    return f"shared-{next(_names)}"


@contextlib.asynccontextmanager
async def pair(url: str, **policies: Any) -> AsyncIterator[tuple[sluice.Gate, sluice.Gate]]:
    """Two gates of one name, each on a store of its own (as two processes would have)."""
    name = _name()
    stores = [RedisState(url), RedisState(url)]
    gates = [sluice.Gate(name, shared=store, **policies) for store in stores]
    try:
        yield gates[0], gates[1]
    finally:
        for gate in gates:
            await gate.aclose()
        for store in stores:
            await store.aclose()


async def settled(gate: sluice.Gate, ready: Callable[[sluice.GateStatistics], bool]) -> None:
    """Wait (boundedly) until the gate's statistics show what its outbox has sent."""
    async with asyncio.timeout(5.0):
        while not ready(gate.statistics()):
            await asyncio.sleep(0.01)


async def test_a_concurrency_limit_holds_across_gates(redis_url: str) -> None:
    async with pair(redis_url, concurrency=2) as (first, second):
        running = peak = 0

        async def work() -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.02)
            running -= 1

        await asyncio.gather(*(gate.run(work) for gate in (first, second) * 6))
        assert peak == 2
        assert first.statistics().shared.held_here == 0  # type: ignore[union-attr]


async def test_an_adaptive_limit_gets_its_local_permits_back(redis_url: str) -> None:
    """Under an `Adaptive` limit a call holds a shared lease and a local permit: both come
    back, so callers past the initial limit are let in, not left waiting."""
    adaptive = sluice.Adaptive(max=64, initial=4)
    async with pair(redis_url, concurrency=adaptive) as (first, _):

        async def work() -> None:
            await asyncio.sleep(0.01)

        async with asyncio.timeout(10):
            await asyncio.gather(*(first.run(work) for _ in range(12)))
        stats = first.statistics()
        assert (stats.succeeded, stats.in_flight, stats.waiting) == (12, 0, 0)


async def test_statistics_show_the_leases_held_everywhere(redis_url: str) -> None:
    async with pair(redis_url, concurrency=4) as (first, second):
        release = asyncio.Event()
        calls = [asyncio.create_task(gate.run(release.wait)) for gate in (first, first, second)]
        await settled(second, lambda s: s.shared is not None and s.shared.in_flight == 3)
        shared = second.statistics().shared
        assert shared is not None
        assert (shared.held_here, shared.reachable) == (1, True)
        release.set()
        await asyncio.gather(*calls)


async def test_one_gates_booking_delays_the_other(
    redis_server: RedisServer, redis_url: str
) -> None:
    async with pair(redis_url, rate=sluice.Rate(rps=0.5)) as (first, second):
        began = server_time(redis_server)
        assert await first.run(asyncio.sleep, 0, "booked") == "booked"
        with pytest.raises(sluice.DeadlineExceeded) as caught:
            await second.options(timeout=sluice.Timeout(total=0.5)).run(asyncio.sleep, 0)
        elapsed = server_time(redis_server) - began
        # The next slot is 2 s after the first gate's booking, on the server's clock: the
        # other is told what is left of those 2 s, however long the exchanges took.
        assert caught.value.retry_after is not None
        assert 2.0 - elapsed - 1e-3 <= caught.value.retry_after <= 2.0 + 1e-3


async def test_a_breaker_opened_by_one_rejects_in_the_other(redis_url: str) -> None:
    async with pair(redis_url, breaker=sluice.Breaker(window=2, min_calls=2, open_for=30.0)) as (
        first,
        second,
    ):

        async def broken() -> None:
            raise ConnectionError("upstream down")

        for _ in range(2):
            with pytest.raises(ConnectionError):
                await first.run(broken)
        await settled(first, lambda s: s.breaker_state == "open")
        with pytest.raises(sluice.CircuitOpenError) as caught:
            await second.run(asyncio.sleep, 0)
        assert caught.value.retry_after is not None
        assert caught.value.retry_after > 25


async def test_a_retry_after_in_one_pauses_the_other(redis_url: str) -> None:
    def refused(exc: BaseException) -> sluice.ErrorInfo:
        return sluice.ErrorInfo(
            retryable=True, overloaded=True, failure=False, retry_after=30.0, status=429
        )

    async with pair(redis_url, concurrency=4, classify=refused) as (first, second):

        async def too_many() -> None:
            raise RuntimeError("429")

        with pytest.raises(RuntimeError):
            await first.run(too_many)
        await settled(first, lambda s: s.shared is not None and s.shared.paused_for > 25)
        with pytest.raises(sluice.DeadlineExceeded) as caught:
            await second.options(timeout=sluice.Timeout(total=1.0)).run(asyncio.sleep, 0)
        assert caught.value.retry_after is not None
        assert caught.value.retry_after > 25


async def test_gate_pause_pauses_every_process(redis_url: str) -> None:
    async with pair(redis_url, concurrency=4) as (first, second):
        first.pause(20.0)
        await settled(first, lambda s: s.shared is not None and s.shared.paused_for > 15)
        with pytest.raises(sluice.DeadlineExceeded):
            await second.options(timeout=sluice.Timeout(total=0.5)).run(asyncio.sleep, 0)


async def test_limits_learned_by_one_pace_the_other(redis_url: str) -> None:
    async with pair(redis_url, concurrency=4) as (first, second):
        # The upstream reports 30 requests a minute, none left: the next one is 2 s away.
        first.observe_limits(requests_limit=30, requests_remaining=0)
        await settled(first, lambda s: s.shared is not None and s.shared.rate_delay > 1.5)
        with pytest.raises(sluice.DeadlineExceeded):
            await second.options(timeout=sluice.Timeout(total=0.5)).run(asyncio.sleep, 0)


async def test_tokens_not_used_go_back_to_everyone(redis_url: str) -> None:
    async with pair(redis_url, rate=sluice.Rate(tpm=600, token_burst=100)) as (first, second):

        async def answer() -> dict[str, object]:
            return {"usage": {"total_tokens": 10}}

        await first.run(answer, tokens=100)  # books the whole bucket, uses 10
        await settled(first, lambda s: s.shared is not None and s.shared.batches_sent >= 1)
        # 90 tokens are back: a call booking them goes at once, well inside its deadline.
        await second.options(timeout=sluice.Timeout(total=1.0), tokens=90).run(answer)


async def test_a_nested_call_runs_on_its_callers_lease(redis_url: str) -> None:
    async with pair(redis_url, concurrency=1) as (first, _):

        async def outer() -> str:
            return await first.run(asyncio.sleep, 0, "inner")

        assert await first.options(timeout=sluice.Timeout(total=5.0)).run(outer) == "inner"


async def test_the_retry_budget_is_spent_once_for_all(redis_url: str) -> None:
    budget = sluice.RetryBudget(percent=0.0, min_per_second=0.1, ttl=10.0)  # one retry
    retry = sluice.Retry(attempts=3, backoff=sluice.Backoff.constant(0.0), budget=budget)
    async with pair(redis_url, retry=retry) as (first, second):
        attempts = 0

        async def flaky() -> None:
            nonlocal attempts
            attempts += 1
            raise ConnectionError("reset")

        with pytest.raises(ConnectionError):
            await first.run(flaky)
        assert attempts == 2  # the one retry the budget holds
        await settled(first, lambda s: s.shared is not None and s.shared.retry_budget == 0)
        await second.run(asyncio.sleep, 0)  # its first exchange brings the shared balance
        await settled(second, lambda s: s.shared is not None and s.shared.retry_budget == 0)
        attempts = 0
        with pytest.raises(ConnectionError):
            await second.run(flaky)
        assert attempts == 1


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"url": "http://localhost"}, "url="),
        ({"url": "redis://x", "fail": "maybe"}, "fail="),
        ({"url": "redis://x", "timeout": 5.0}, "timeout"),
        ({"url": "redis://x", "prefix": "a{b}"}, "prefix="),
        ({"url": "redis://x", "expected_workers": 0}, "expected_workers"),
        ({}, "url="),
    ],
)
def test_bad_settings_are_named(arguments: dict[str, object], named: str) -> None:
    with pytest.raises(sluice.ConfigError, match=named):
        RedisState(**arguments)  # type: ignore[arg-type]


def test_a_gate_refuses_what_cannot_share() -> None:
    with pytest.raises(sluice.ConfigError, match="shared="):
        sluice.Gate("g", shared=42)  # type: ignore[arg-type]


def test_a_password_never_shows() -> None:
    store = RedisState("redis://user:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in repr(store)
    assert "hunter2" not in store.where


async def test_a_gate_given_a_url_closes_its_own_connections(
    redis_server: RedisServer, redis_url: str
) -> None:
    def clients() -> int:  # connections the server has, this question's own included
        return redis_server.command("CLIENT", "LIST").count(b"id=")

    before = clients()
    gate = sluice.Gate(_name(), concurrency=2, breaker=sluice.Breaker(), shared=redis_url)
    await asyncio.gather(*(gate.run(asyncio.sleep, 0.01) for _ in range(4)))
    assert clients() > before
    await gate.aclose()
    async with asyncio.timeout(5.0):
        while clients() > before:
            await asyncio.sleep(0.01)


async def test_callers_past_the_pool_wait_their_turn_not_an_outage(redis_url: str) -> None:
    store = RedisState(redis_url)  # 64 connections
    gate = sluice.Gate(_name(), concurrency=1000, shared=store)

    async def noop() -> None:
        return None

    async def caller() -> None:
        for _ in range(150):
            await gate.run(noop)

    try:
        # 128 callers on 64 connections: each command waits its turn, in order; none waits on
        # the pool long enough to take a healthy Redis for a dead one.
        await asyncio.gather(*(caller() for _ in range(128)))
        shared = gate.statistics().shared
        assert shared is not None
        assert (shared.outages, shared.degraded_admissions) == (0, 0)
    finally:
        await gate.aclose()
        await store.aclose()

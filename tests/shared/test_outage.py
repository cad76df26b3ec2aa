"""A shared gate when Redis goes away, stalls, or comes back empty.

Fail open (the default): calls go on under this process's own limits, divided by
``expected_workers``, with one warning; the gate rejoins once Redis answers again. Fail
closed: calls are refused. A stalled Redis (``CLIENT PAUSE``) costs a call at most the
store's timeout, never its own deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import warnings

import pytest

import sluice
from sluice.stores._redis_state import RedisState
from tests.redis_server import RedisServer

pytestmark = pytest.mark.realtime

_names = itertools.count()


def _gate(url: str, **settings: object) -> tuple[sluice.Gate, RedisState]:
    store = RedisState(url, timeout=0.2, retry_every=0.2, **settings)  # type: ignore[arg-type]
    gate = sluice.Gate(f"outage-{next(_names)}", concurrency=8, shared=store)
    return gate, store


async def _peak(gate: sluice.Gate, calls: int) -> int:
    running = peak = 0

    async def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    await asyncio.gather(*(gate.run(work) for _ in range(calls)))
    return peak


async def test_fail_open_runs_on_local_limits_then_rejoins(
    redis_server: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    gate, store = _gate(redis_url, expected_workers=4)
    try:
        assert await _peak(gate, 20) == 8  # shared: the whole limit
        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="sluice"):
            assert await _peak(gate, 20) == 2  # 8 / 4 workers, on this process alone
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warned) == 1  # one warning for twenty calls
        assert "cannot be reached" in warned[0]
        shared = gate.statistics().shared
        assert shared is not None
        assert not shared.reachable
        assert shared.degraded_admissions >= 20
        redis_server.restart()
        async with asyncio.timeout(10.0):
            while not gate.statistics().shared.reachable:  # type: ignore[union-attr]
                await gate.run(asyncio.sleep, 0.05)
        before = gate.statistics().shared.degraded_admissions  # type: ignore[union-attr]
        assert await _peak(gate, 20) == 8  # back on the shared limit
        assert gate.statistics().shared.degraded_admissions == before  # type: ignore[union-attr]
    finally:
        await gate.aclose()
        await store.aclose()


async def test_fail_closed_refuses_while_redis_is_away(
    redis_server: RedisServer, redis_url: str
) -> None:
    gate, store = _gate(redis_url, fail="closed")
    try:
        await gate.run(asyncio.sleep, 0)
        redis_server.stop()
        for _ in range(3):  # the first finds out, the others are refused without trying
            with pytest.raises(sluice.RejectedError, match="fails closed"):
                await gate.run(asyncio.sleep, 0)
        assert gate.statistics().shared.outages == 1  # type: ignore[union-attr]
    finally:
        await gate.aclose()
        await store.aclose()


async def test_a_paused_redis_costs_a_call_the_store_timeout_not_its_deadline(
    redis_server: RedisServer, redis_url: str
) -> None:
    gate, store = _gate(redis_url)
    try:
        await gate.run(asyncio.sleep, 0)
        redis_server.command("CLIENT", "PAUSE", "3000")
        # Each call has 1 s in all; Redis answers nothing for 3 s. Every call still succeeds,
        # admitted on local limits after the 0.2 s store timeout.
        limited = gate.options(timeout=sluice.Timeout(total=1.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sluice.DegradedWarning)
            results = await asyncio.gather(*(limited.run(asyncio.sleep, 0, i) for i in range(10)))
        assert results == list(range(10))
        assert gate.statistics().shared.degraded_admissions >= 10  # type: ignore[union-attr]
    finally:
        redis_server.command("CLIENT", "UNPAUSE")
        await gate.aclose()
        await store.aclose()


async def test_a_redis_restarted_empty_forgets_nothing_it_needs(
    redis_server: RedisServer, redis_url: str
) -> None:
    gate, store = _gate(redis_url)
    try:
        await gate.run(asyncio.sleep, 0)
        redis_server.stop()
        redis_server.restart()  # no scripts loaded, no keys
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sluice.DegradedWarning)
            async with asyncio.timeout(10.0):
                while True:
                    await gate.run(asyncio.sleep, 0.01)
                    shared = gate.statistics().shared
                    assert shared is not None
                    if shared.reachable and shared.batches_sent:
                        break
        assert await _peak(gate, 16) == 8
    finally:
        await gate.aclose()
        await store.aclose()

from __future__ import annotations

import asyncio

import pytest

import sluice
from sluice._stages.permits import ConcurrencyLimiter
from sluice.policies.limit import Concurrency


async def hold(limiter: ConcurrencyLimiter, order: list[int], tag: int, seconds: float) -> None:
    await limiter.acquire()
    order.append(tag)
    try:
        await asyncio.sleep(seconds)
    finally:
        limiter.release()


async def test_waiters_are_served_in_arrival_order() -> None:
    limiter = ConcurrencyLimiter(Concurrency(1), gate="g")
    order: list[int] = []
    tasks = []
    for tag in range(5):
        tasks.append(asyncio.create_task(hold(limiter, order, tag, 1.0)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert asyncio.get_running_loop().time() == 5.0


async def test_newcomer_cannot_overtake_the_queue() -> None:
    limiter = ConcurrencyLimiter(Concurrency(1), gate="g")
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    limiter.release()  # handed to the waiter, not freed
    assert not limiter.try_acquire()
    await waiter
    assert limiter.statistics() == sluice.policies.limit.ConcurrencyStatistics(1, 1, 0)  # type: ignore[attr-defined]


async def test_full_queue_is_refused_at_once() -> None:
    limiter = ConcurrencyLimiter(Concurrency(1, max_queue=1), gate="g")
    await limiter.acquire()
    queued = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    with pytest.raises(sluice.OverloadedError) as info:
        await limiter.acquire()
    assert info.value.reason == "queue_full"
    assert "max_queue=1" in str(info.value)
    assert info.value.overloaded
    assert not info.value.retryable
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert limiter.waiting == 0


async def test_max_wait_bounds_the_wait() -> None:
    limiter = ConcurrencyLimiter(Concurrency(1, max_wait=2.5), gate="g")
    await limiter.acquire()
    with pytest.raises(sluice.OverloadedError) as info:
        await limiter.acquire()
    assert info.value.reason == "max_wait"
    assert asyncio.get_running_loop().time() == 2.5
    assert limiter.waiting == 0
    assert limiter.in_flight == 1


async def test_cancelled_waiter_leaves_the_queue() -> None:
    limiter = ConcurrencyLimiter(Concurrency(1), gate="g")
    await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    limiter.release()
    await second
    assert limiter.in_flight == 1
    assert limiter.waiting == 0


async def test_permit_granted_to_a_cancelled_waiter_is_passed_on() -> None:
    limiter = ConcurrencyLimiter(Concurrency(1), gate="g")
    await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    limiter.release()  # the permit goes to `first` ...
    first.cancel()  # ... which is cancelled before it runs
    await asyncio.sleep(0)
    await second
    assert first.cancelled()
    assert limiter.in_flight == 1
    assert limiter.waiting == 0


async def test_raising_the_limit_wakes_waiters_and_lowering_lets_calls_drain() -> None:
    limiter = ConcurrencyLimiter(Concurrency(1), gate="g")
    await limiter.acquire()
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    limiter.set_limit(3)
    await asyncio.sleep(0)
    assert sum(w.done() for w in waiters) == 2
    assert limiter.in_flight == 3
    limiter.set_limit(1)
    limiter.release()
    limiter.release()
    assert limiter.in_flight == 1
    assert not waiters[2].done()
    limiter.release()
    await waiters[2]
    assert limiter.in_flight == 1


def test_waiting_on_two_loops_is_refused() -> None:
    limiter = ConcurrencyLimiter(Concurrency(1), gate="g")
    limiter.try_acquire()
    loop = asyncio.new_event_loop()
    try:
        pending = loop.create_task(limiter.acquire())
        loop.run_until_complete(asyncio.sleep(0))
        with pytest.raises(RuntimeError, match="waiting on another event loop"):
            asyncio.run(limiter.acquire())
        pending.cancel()
        loop.run_until_complete(asyncio.gather(pending, return_exceptions=True))
    finally:
        loop.close()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (0, "Concurrency(limit=...) must be an integer >= 1"),
        (True, "Gate(concurrency=...) must be an int >= 1"),
        ("64", "Gate(concurrency=...) must be an int >= 1"),
    ],
)
def test_bad_concurrency(value: object, fragment: str) -> None:
    with pytest.raises(sluice.ConfigError) as info:
        Concurrency.coerce(value)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_bad_queue_bounds() -> None:
    with pytest.raises(sluice.ConfigError, match="max_queue"):
        Concurrency(4, max_queue=-1)
    with pytest.raises(sluice.ConfigError, match="max_wait"):
        Concurrency(4, max_wait=0)

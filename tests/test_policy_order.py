"""The policy order the README documents, checked pair by pair on what each order implies."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

import sluice

README = Path(__file__).resolve().parents[1] / "README.md"
ORDER = [
    "fallback",
    "cache",
    "total timeout",
    "retry",
    "hedge",
    "breaker",
    "cooldown",
    "rate",
    "concurrency",
    "attempt timeout",
    "the call",
]


def now() -> float:
    return asyncio.get_running_loop().time()


def test_the_readme_states_this_order() -> None:
    text = " ".join(README.read_text().split())
    found = re.search(r"outermost first: \*\*(.+?)\*\*", text)
    assert found is not None
    assert found.group(1).split(" → ") == ORDER


class Upstream:
    """Down at first, then up when told."""

    def __init__(self) -> None:
        self.down = True

    async def ask(self) -> str:
        if self.down:
            raise ConnectionError("down")
        return "fresh"


async def test_fallback_is_outside_the_cache_so_its_answers_are_not_cached() -> None:
    upstream = Upstream()
    gate = sluice.Gate("g", cache=sluice.Cache(key=lambda fn, args, kwargs: "k"), fallback="stale")
    assert await gate.run(upstream.ask) == "stale"
    upstream.down = False
    assert await gate.run(upstream.ask) == "fresh"  # the fallback's answer was not stored
    upstream.down = True
    assert await gate.run(upstream.ask) == "fresh"  # the real one was


async def test_the_total_timeout_is_outside_retry_so_it_covers_every_attempt_and_wait() -> None:
    async def slow_failure() -> None:
        await asyncio.sleep(1.0)
        raise ConnectionError("down")

    retry = sluice.Retry(attempts=10, backoff=sluice.Backoff.constant(1.0), budget=None)
    gate = sluice.Gate("g", retry=retry, timeout=sluice.Timeout(total=5.0))
    with pytest.raises(sluice.DeadlineExceeded):
        await gate.run(slow_failure)
    assert now() == 5.0


async def test_retry_is_outside_the_breaker_so_every_attempt_is_an_outcome() -> None:
    async def failure() -> None:
        raise ConnectionError("down")

    breaker = sluice.Breaker(failure_rate=1.0, window=3, min_calls=3)
    gate = sluice.Gate("g", retry=sluice.Retry(attempts=3, budget=None), breaker=breaker)
    with pytest.raises(ConnectionError):
        await gate.run(failure)  # one call, three attempts: the window is full of failures
    state = gate.statistics().breaker
    assert state is not None
    assert state.state == "open"


async def test_the_breaker_is_outside_the_rate_so_a_rejection_books_no_slot() -> None:
    async def failure() -> None:
        raise ConnectionError("down")

    breaker = sluice.Breaker(failure_rate=1.0, window=1, min_calls=1, open_for=100.0)
    gate = sluice.Gate("g", breaker=breaker, rate=sluice.Rate(rps=1, burst=1))
    with pytest.raises(ConnectionError):
        await gate.run(failure)
    for _ in range(5):
        with pytest.raises(sluice.CircuitOpenError):
            await gate.run(failure)
    assert now() == 0.0  # rejected calls waited for no rate slot, and took none


async def test_the_rate_is_outside_concurrency_so_a_rate_wait_holds_no_permit() -> None:
    gate = sluice.Gate("g", rate=sluice.Rate(rps=1, burst=1), concurrency=1)
    starts: list[float] = []

    async def record() -> None:
        starts.append(now())
        await asyncio.sleep(0.5)

    await asyncio.gather(*(gate.run(record) for _ in range(3)))
    # One a second (the rate), each running 0.5 s: none waited for a permit while queued
    # for its rate slot, or the starts would drift by the time others held the permit.
    assert starts == [0.0, 1.0, 2.0]


async def test_concurrency_is_outside_the_attempt_timeout_so_waiting_is_not_running() -> None:
    gate = sluice.Gate("g", concurrency=1, timeout=1.0)
    results = await asyncio.gather(*(gate.run(asyncio.sleep, 0.8, i) for i in range(3)))
    assert results == [0, 1, 2]  # the third waited 1.6 s for its permit, ran 0.8 s: in time
    assert now() == pytest.approx(2.4)

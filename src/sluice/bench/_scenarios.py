"""Small, self-contained scenarios that show what a Gate changes, measured on this machine.

- `blocking_calls`: blocking functions (an LLM SDK called synchronously) inside async code run
  one after the other, even under `asyncio.gather`; through `Gate.run` they overlap.
- `rate_limited_fan_out`: a burst of calls paced by a `Rate` and bounded by a concurrency
  limit, with the start times checked against the limits.
- `flaky_upstream`: retries turn transient failures into successes, and a circuit breaker
  turns an outage into fast rejections instead of slow timeouts.
- `stalled_loop`: a blocking call inside `async def`, caught by `sluice.observe.watch_loop`,
  which names the function that held the loop.

    result = asyncio.run(blocking_calls((0.83, 0.70)))
    print(result.naive_s, result.gated_s)
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import sluice
from sluice.observe import Stall, watch_loop

__all__ = [
    "BlockingResult",
    "FanOutResult",
    "FlakyResult",
    "StallResult",
    "blocking_calls",
    "flaky_upstream",
    "rate_limited_fan_out",
    "stalled_loop",
]


@dataclass(frozen=True, slots=True)
class BlockingResult:
    """Wall times of the same blocking calls run naively and through a gate."""

    durations: tuple[float, ...]
    naive_s: float
    gated_s: float

    @property
    def longest(self) -> float:
        return max(self.durations)

    @property
    def total(self) -> float:
        return sum(self.durations)


async def blocking_calls(durations: Sequence[float] = (0.83, 0.70)) -> BlockingResult:
    """Run blocking sleeps of ``durations`` seconds concurrently, naively and through a gate."""

    async def naive_step(seconds: float) -> None:
        # The mistake on purpose: a blocking call inside `async def` holds the event loop.
        time.sleep(seconds)  # noqa: ASYNC251

    start = time.perf_counter()
    await asyncio.gather(*(naive_step(s) for s in durations))
    naive = time.perf_counter() - start

    async with sluice.Gate("blocking", concurrency=len(durations)) as gate:
        start = time.perf_counter()
        await asyncio.gather(*(gate.run(time.sleep, s) for s in durations))
        gated = time.perf_counter() - start
    return BlockingResult(tuple(durations), naive, gated)


@dataclass(frozen=True, slots=True)
class FanOutResult:
    """A rate-limited fan-out: how long it took, and whether the limits held."""

    calls: int
    rps: float
    burst: int
    concurrency: int
    elapsed_s: float
    expected_s: float
    peak_in_flight: int
    max_starts_per_second: int


async def rate_limited_fan_out(
    calls: int = 40, rps: float = 20.0, burst: int = 5, concurrency: int = 8, latency: float = 0.1
) -> FanOutResult:
    """Send ``calls`` calls of ``latency`` seconds through ``Rate(rps, burst)`` and a limit."""
    starts: list[float] = []
    running = 0
    peak = 0

    async def upstream() -> None:
        nonlocal running, peak
        starts.append(time.perf_counter())
        running += 1
        peak = max(peak, running)
        try:
            await asyncio.sleep(latency)
        finally:
            running -= 1

    gate = sluice.Gate("fan-out", rate=sluice.Rate(rps=rps, burst=burst), concurrency=concurrency)
    begin = time.perf_counter()
    await asyncio.gather(*(gate.run(upstream) for _ in range(calls)))
    elapsed = time.perf_counter() - begin
    # GCRA: `burst` start at once, the rest are spaced 1/rps apart; the last one then runs.
    expected = max(0, calls - burst) / rps + latency
    most = max(sum(1 for s in starts if t <= s < t + 1.0) for t in starts)
    return FanOutResult(calls, rps, burst, concurrency, elapsed, expected, peak, most)


@dataclass(frozen=True, slots=True)
class FlakyResult:
    """Calls against an upstream that fails some of the time, then goes down."""

    calls: int
    failure_rate: float
    plain_successes: int
    retried_successes: int
    outage_calls: int
    outage_without_breaker_s: float
    outage_with_breaker_s: float
    rejected_fast: int


async def flaky_upstream(
    calls: int = 60,
    failure_rate: float = 0.3,
    outage_calls: int = 30,
    attempt_timeout: float = 0.2,
) -> FlakyResult:
    """Transient failures with and without retries; an outage with and without a breaker."""
    rng = random.Random(7)

    async def flaky() -> str:
        await asyncio.sleep(0.005)
        if rng.random() < failure_rate:
            raise ConnectionError("connection reset by upstream")
        return "ok"

    plain = sluice.Gate("plain")
    plain_ok = sum(o.ok for o in [await plain.run_outcome(flaky) for _ in range(calls)])
    retrying = sluice.Gate(
        "retrying", retry=sluice.Retry(attempts=4, backoff=sluice.Backoff.exponential(0.01, 0.1))
    )
    retried_ok = sum(o.ok for o in [await retrying.run_outcome(flaky) for _ in range(calls)])

    async def down() -> str:
        await asyncio.sleep(60)  # hangs: only the timeout ends it
        return "never"

    without = sluice.Gate("no-breaker", timeout=attempt_timeout)
    start = time.perf_counter()
    for _ in range(outage_calls):
        await without.run_outcome(down)
    without_s = time.perf_counter() - start

    breaker = sluice.Breaker(failure_rate=0.5, window=10, min_calls=5, open_for=30.0)
    guarded = sluice.Gate("breaker", timeout=attempt_timeout, breaker=breaker)
    start = time.perf_counter()
    for _ in range(outage_calls):
        await guarded.run_outcome(down)
    with_s = time.perf_counter() - start
    rejected = guarded.statistics().rejected.get("circuit_open", 0)
    return FlakyResult(
        calls, failure_rate, plain_ok, retried_ok, outage_calls, without_s, with_s, rejected
    )


@dataclass(frozen=True, slots=True)
class StallResult:
    """What the loop watchdog saw while a handler parsed a report synchronously."""

    blocked_s: float
    stalls: tuple[Stall, ...]


def parse_report_synchronously(seconds: float) -> None:
    """Stands for a CPU-heavy parse or a blocking SDK call made inside ``async def``."""
    time.sleep(seconds)


async def stalled_loop(blocked_s: float = 0.2, threshold: float = 0.05) -> StallResult:
    """Block the loop for ``blocked_s`` under a watchdog with ``threshold``; its stalls."""

    async def handler() -> None:
        parse_report_synchronously(blocked_s)  # the mistake on purpose

    with watch_loop(threshold=threshold, log_every=None) as watch:
        await handler()
        await asyncio.sleep(threshold)  # the loop runs again: the stall is recorded
    return StallResult(blocked_s, watch.stalls)

"""Adaptive concurrency against an upstream with a hidden capacity, in real time.

The upstream lives in this process: each call needs 20 ms of work (give or take 10 %) and it
has the capacity of 32 workers. Two kinds:

- queueing: it never refuses; beyond 32 calls in flight they share the workers, so each one
  slows down in proportion (processor sharing);
- rejecting: beyond 32 calls in flight it answers at once (after 2 ms) with an error marked
  ``overloaded`` (an HTTP 429).

256 callers each send their next call as soon as one ends. For each kind, fixed limits of 8, 16,
32, 64 and 128 are measured, then ``concurrency="auto"`` (``Adaptive()``: it starts at 16 and
knows nothing of the capacity), each for a warm-up then a measured stretch. Reported: successful
calls per second, refusals per second, the latency the upstream gave successful calls (p50,
p99) and the limit over the measured stretch; then the adaptive throughput as a fraction of the
best fixed limit's.

Calls go through the gate when it takes ``sluice.Adaptive``; otherwise through the test driver
that runs the same limiter and controller calls as the gate's attempt.

    python benchmarks/bench_adaptive.py [--warmup S] [--measure S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

# The simulated upstream is shared with the tests (tests.stages.adaptive_upstream).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.stages.adaptive_upstream import (
    AdaptiveDriver,
    QueueingUpstream,
    RejectingUpstream,
)

import sluice
from _common import header, table
from sluice._stats import percentile

CAPACITY = 32
BASE = 0.020
CALLERS = 256
FIXED = (8, 16, 32, 64, 128)

Call = Callable[[Callable[[], Awaitable[None]]], Awaitable[None]]


def gate_takes_adaptive() -> bool:
    try:
        sluice.Gate("probe", concurrency=sluice.Adaptive())  # type: ignore[arg-type]
    except sluice.ConfigError:
        return False
    return True


def runner(limit: int | None, via_gate: bool) -> tuple[Call, Callable[[], int]]:
    """How to make a call under ``limit`` (``None``: adaptive), and how to read the limit."""
    config = (
        sluice.Adaptive() if limit is None else sluice.Adaptive(min=limit, max=limit, initial=limit)
    )
    if via_gate:
        concurrency: object = config if limit is None else limit
        gate = sluice.Gate("bench", concurrency=concurrency)  # type: ignore[arg-type]

        def gate_limit() -> int:
            return gate.statistics().concurrency_limit or 0

        return gate.run, gate_limit
    # min == max pins the limit: a fixed limit through the very same code.
    driver = AdaptiveDriver(config)
    return driver.run, lambda: driver.limiter.limit


async def measure(
    kind: str, limit: int | None, via_gate: bool, warmup: float, span: float
) -> list[str]:
    upstream = (
        QueueingUpstream(CAPACITY, base=BASE, seed=1)
        if kind == "queueing"
        else RejectingUpstream(CAPACITY, base=BASE, reject_after=0.002, seed=1)
    )
    call, read_limit = runner(limit, via_gate)
    loop = asyncio.get_running_loop()
    begin = loop.time() + warmup
    end = begin + span
    latencies: list[float] = []
    refused = 0
    limits: list[int] = []

    # Only calls that end within the measured stretch count.
    async def timed() -> None:
        start = loop.time()
        await upstream()
        now = loop.time()
        if begin <= now < end:
            latencies.append(now - start)

    async def caller() -> None:
        nonlocal refused
        while loop.time() < end:
            try:
                await call(timed)
            except Exception:
                if begin <= loop.time() < end:
                    refused += 1

    async def sampler() -> None:
        while loop.time() < end:
            await asyncio.sleep(0.05)
            if loop.time() >= begin:
                limits.append(read_limit())

    # Callers still queued for a permit at the end are cancelled rather than served.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout_at(end + 0.1), asyncio.TaskGroup() as group:
            group.create_task(sampler())
            for _ in range(CALLERS):
                group.create_task(caller())
    ordered = sorted(latencies)
    low, high = min(limits), max(limits)
    shown = f"{statistics.mean(limits):.0f} ({low}..{high})" if low != high else str(low)
    return [
        "auto" if limit is None else str(limit),
        f"{len(latencies) / span:.0f}",
        f"{refused / span:.0f}",
        f"{percentile(ordered, 50) * 1e3:.1f}",
        f"{percentile(ordered, 99) * 1e3:.1f}",
        shown,
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warmup", type=float, default=0.75)
    parser.add_argument("--measure", type=float, default=1.0)
    args = parser.parse_args()
    header(
        f"Adaptive concurrency vs fixed limits; upstream capacity {CAPACITY}, "
        f"{BASE * 1e3:.0f} ms per call, {CALLERS} callers",
        f"python benchmarks/bench_adaptive.py --warmup {args.warmup:g} --measure {args.measure:g}",
    )
    via_gate = gate_takes_adaptive()
    path = "sluice.Gate" if via_gate else "the test driver (the gate's calls, not wired yet)"
    print(f"   calls through: {path}")
    head = ["limit", "ok/s", "refused/s", "p50 ms", "p99 ms", "limit held (mean, range)"]
    for kind in ("queueing", "rejecting"):
        rows = [
            asyncio.run(measure(kind, limit, via_gate, args.warmup, args.measure))
            for limit in (*FIXED, None)
        ]
        print(f"\n   {kind} upstream")
        table(rows, head)
        best = max(rows[:-1], key=lambda row: float(row[1]))
        ratio = float(rows[-1][1]) / float(best[1])
        print(
            f"   auto: {ratio:.2f} of the best fixed limit's throughput "
            f"(fixed {best[0]}: {best[1]}/s; ideal {CAPACITY / BASE:.0f}/s)"
        )


if __name__ == "__main__":
    main()

"""Per-call overhead of Gate.run, against gather + Semaphore, measured in the same run.

100,000 async no-op calls, all started at once with `asyncio.gather`. The baseline guards
each call with `asyncio.Semaphore(100)`; a bare `gather` of the calls is shown too, as the
floor any wrapper adds to. The gate variants:

- no policy: `Gate()`;
- all policies: concurrency 100, a rate limit set high enough not to bind, retry (with its
  budget), a circuit breaker and an attempt timeout;
- all policies and a total timeout: the same with `Timeout(attempt=30, total=60)`.

Rounds alternate between the variants and each figure is the median of the rounds.
Targets: all policies with both timeouts at most 1.5x the baseline; no policy at most 1.1x.

    python benchmarks/bench_gate_overhead.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio

import sluice
from _common import header, median, table, timed

BASELINE = "gather + Semaphore(100) (baseline)"
ALL = "gate.run, all policies, attempt timeout"
ALL_TOTAL = "gate.run, all policies, attempt + total timeout"
PLAIN = "gate.run, no policy"


async def noop() -> None:
    return None


async def bare(calls: int) -> None:
    await asyncio.gather(*(noop() for _ in range(calls)))


async def baseline(calls: int) -> None:
    semaphore = asyncio.Semaphore(100)

    async def guarded() -> None:
        async with semaphore:
            await noop()

    await asyncio.gather(*(guarded() for _ in range(calls)))


def all_policies(timeout: sluice.Timeout) -> sluice.Gate:
    return sluice.Gate(
        "bench",
        concurrency=100,
        rate=sluice.Rate(rps=1e9, burst=1000),
        retry=sluice.Retry(attempts=3),
        timeout=timeout,
        breaker=sluice.Breaker(),
    )


async def through(gate: sluice.Gate, calls: int) -> None:
    await asyncio.gather(*(gate.run(noop) for _ in range(calls)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    header(
        "Gate.run overhead vs asyncio.gather + Semaphore(100)",
        f"python benchmarks/bench_gate_overhead.py --calls {args.calls} --rounds {args.rounds}",
    )
    calls = args.calls
    attempt_only = sluice.Timeout(attempt=30.0)
    both = sluice.Timeout(attempt=30.0, total=60.0)
    variants = {
        "bare gather (no guard)": lambda: asyncio.run(bare(calls)),
        BASELINE: lambda: asyncio.run(baseline(calls)),
        PLAIN: lambda: asyncio.run(through(sluice.Gate(), calls)),
        ALL: lambda: asyncio.run(through(all_policies(attempt_only), calls)),
        ALL_TOTAL: lambda: asyncio.run(through(all_policies(both), calls)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, run in variants.items():
            seconds[name].append(timed(run))
    base = median(seconds[BASELINE])
    rows = []
    for name, values in seconds.items():
        per_call = median(values) / calls * 1e6
        rows.append([name, f"{per_call:.2f} us", f"{median(values) / base:.2f}x"])
    table(rows, ["variant", "per call (median)", "vs baseline"])
    for name, target in ((ALL_TOTAL, 1.5), (PLAIN, 1.1)):
        ratio = median(seconds[name]) / base
        verdict = "meets" if ratio <= target else "MISSES"
        print(f"   {name}: {ratio:.2f}x the baseline ({verdict} the {target}x target)")


if __name__ == "__main__":
    main()

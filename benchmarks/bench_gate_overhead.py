"""Per-call overhead of Gate.run with every policy enabled, against gather + Semaphore.

100,000 async no-op calls, all started at once with `asyncio.gather`. The baseline guards
each call with `asyncio.Semaphore(100)`; the gate has concurrency 100, a rate limit set high
enough not to bind, retry, an attempt timeout and a circuit breaker. Rounds alternate between
the variants and each figure is the median of the rounds. Target: at most 2.0x the baseline.

    python benchmarks/bench_gate_overhead.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio

import sluice
from _common import header, median, table, timed


async def noop() -> None:
    return None


async def baseline(calls: int) -> None:
    semaphore = asyncio.Semaphore(100)

    async def guarded() -> None:
        async with semaphore:
            await noop()

    await asyncio.gather(*(guarded() for _ in range(calls)))


def all_policies() -> sluice.Gate:
    return sluice.Gate(
        "bench",
        concurrency=100,
        rate=sluice.Rate(rps=1e9, burst=1000),
        retry=sluice.Retry(attempts=3),
        timeout=30.0,
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
    variants = {
        "gather + Semaphore(100) (baseline)": lambda: asyncio.run(baseline(args.calls)),
        "gate.run, no policy": lambda: asyncio.run(through(sluice.Gate(), args.calls)),
        "gate.run, all policies": lambda: asyncio.run(through(all_policies(), args.calls)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, run in variants.items():
            seconds[name].append(timed(run))
    base = median(seconds["gather + Semaphore(100) (baseline)"])
    rows = []
    for name, values in seconds.items():
        per_call = median(values) / args.calls * 1e6
        rows.append([name, f"{per_call:.2f} us", f"{median(values) / base:.2f}x"])
    table(rows, ["variant", "per call (median)", "vs baseline"])
    ratio = median(seconds["gate.run, all policies"]) / base
    verdict = "meets" if ratio <= 2.0 else "MISSES"
    print(f"   all policies: {ratio:.2f}x the baseline ({verdict} the 2.0x target)")


if __name__ == "__main__":
    main()

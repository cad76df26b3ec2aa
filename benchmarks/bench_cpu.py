"""CPU-bound work through `sluice.cpu`: four ~0.5 s tasks, sequential vs the process pool.

The work is a pure-Python loop (it holds the GIL, so threads would not help), calibrated on
this machine to take about 0.5 s. The gated run is timed twice: cold (the first call starts
the worker processes) and warm (the pool exists). Speedups are against sequential calls
measured in the same run; with 2 cores the ceiling is 2x.

    python benchmarks/bench_cpu.py [--tasks N] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import sluice
from _common import header, median, table


@sluice.cpu
def burn(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total = (total + i * i) % 1_000_003
    return total


def calibrate(seconds: float) -> int:
    """Iterations that take ``seconds`` here (best of three probes of ~0.1 s)."""
    probe = 200_000
    best = min(_probe(probe) for _ in range(3))
    return int(probe * seconds / best)


def _probe(iterations: int) -> float:
    start = time.perf_counter()
    burn(iterations)
    return time.perf_counter() - start


async def gated(gate: sluice.Gate, tasks: int, iterations: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(gate.run(burn, iterations) for _ in range(tasks)))
    return time.perf_counter() - start


def sequential(tasks: int, iterations: int) -> float:
    start = time.perf_counter()
    for _ in range(tasks):
        burn(iterations)
    return time.perf_counter() - start


async def measure(tasks: int, iterations: int, rounds: int) -> dict[str, list[float]]:
    """Cold pools once, then alternating rounds: in process, one worker, all workers."""
    runs: dict[str, list[float]] = {"cold": [], "in process": [], "one worker": [], "pool": []}
    async with sluice.Gate("cpu-1", processes=1) as one, sluice.Gate("cpu") as pool:
        runs["cold"].append(await gated(pool, tasks, iterations))
        await gated(one, 1, iterations)  # start the one-worker pool too
        for _ in range(rounds):
            runs["in process"].append(sequential(tasks, iterations))
            runs["one worker"].append(await gated(one, tasks, iterations))
            runs["pool"].append(await gated(pool, tasks, iterations))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    header("sluice.cpu: CPU-bound tasks on the process pool", "python benchmarks/bench_cpu.py")
    iterations = calibrate(args.seconds)
    runs = asyncio.run(measure(args.tasks, iterations, args.rounds))
    base = median(runs["one worker"])
    rows = []
    for label, key in (
        ("one after the other, in this process", "in process"),
        ("one after the other, one worker process", "one worker"),
        (f"gate.run(sluice.cpu(fn)), {os.cpu_count()} workers, cold", "cold"),
        (f"gate.run(sluice.cpu(fn)), {os.cpu_count()} workers, warm", "pool"),
    ):
        wall = median(runs[key])
        rows.append([label, f"{wall:.2f} s", f"{base / wall:.2f}x"])
    table(rows, ["variant (median of rounds)", "wall", "speedup vs one worker"])
    print(
        f"   {args.tasks} tasks of ~{args.seconds:g} s, {args.rounds} alternating rounds. The "
        "baseline is the same tasks one at a time in one worker process: the same code in "
        "this process runs a few percent slower or faster for reasons unrelated to sluice."
    )


if __name__ == "__main__":
    main()

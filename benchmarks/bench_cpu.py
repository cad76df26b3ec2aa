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
from _common import header, table


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


async def both(tasks: int, iterations: int) -> tuple[float, float]:
    async with sluice.Gate("cpu") as gate:
        cold = await gated(gate, tasks, iterations)
        warm = await gated(gate, tasks, iterations)
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    header("sluice.cpu: CPU-bound tasks on the process pool", "python benchmarks/bench_cpu.py")
    iterations = calibrate(args.seconds)
    start = time.perf_counter()
    for _ in range(args.tasks):
        burn(iterations)
    sequential = time.perf_counter() - start
    cold, warm = asyncio.run(both(args.tasks, iterations))
    table(
        [
            ["sequential, in process", f"{sequential:.2f} s", "1.00x"],
            ["gate.run(sluice.cpu(fn)), cold pool", f"{cold:.2f} s", f"{sequential / cold:.2f}x"],
            ["gate.run(sluice.cpu(fn)), warm pool", f"{warm:.2f} s", f"{sequential / warm:.2f}x"],
        ],
        ["variant", "wall", "speedup"],
    )
    print(f"   {args.tasks} tasks of ~{args.seconds:g} s on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

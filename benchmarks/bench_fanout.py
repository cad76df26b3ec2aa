"""What does fan-out through a Gate cost per item, and how much memory does a stream hold?

1. `gate.map` over 100,000 async no-op items, 100 at a time, against the same job done with
   `asyncio.gather` + `asyncio.Semaphore(100)` (the baseline), `aiometer.run_all(max_at_once=100)`
   and an anyio task group + `CapacityLimiter(100)`. Each row: median µs/item over several runs,
   each run in a fresh event loop, and its ratio to the baseline measured in the same process.
2. `gate.stream` over a generator of 1,000,000 items: items per second, and the growth of the
   peak resident memory (each row in a fresh process, so the peak is its own), next to
   `gate.map` over the same generator (which must hold every result) for contrast.

Run:  .venv/bin/python benchmarks/bench_fanout.py [--runs 5] [--quick]
aiometer and anyio are optional (pip install aiometer anyio); their rows are skipped without
them. The whole run takes about 1.5 minutes (--quick: about 10 s); part 2 is POSIX only.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import importlib.metadata
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import sluice

LIMIT = 100


async def noop(item: int) -> int:
    return item


# ---------------------------------------------------------------- part 1: per-item cost
async def gather_semaphore(n: int) -> list[int]:
    semaphore = asyncio.Semaphore(LIMIT)

    async def guarded(item: int) -> int:
        async with semaphore:
            return await noop(item)

    return await asyncio.gather(*(guarded(item) for item in range(n)))


async def gate_map(n: int) -> list[int]:
    return await sluice.Gate("bench", concurrency=LIMIT).map(noop, range(n))


async def gate_map_outcomes(n: int) -> list[Any]:
    return await sluice.Gate("bench", concurrency=LIMIT).map(noop, range(n), errors="return")


async def gate_map_generator(n: int) -> list[int]:
    return await sluice.Gate("bench", concurrency=LIMIT).map(noop, (item for item in range(n)))


async def worker_pool(n: int) -> list[int]:
    # The floor: 100 long-lived workers over a shared iterator, no gate, no bookkeeping.
    results = [0] * n
    items = iter(range(n))

    async def worker() -> None:
        for item in items:
            results[item] = await noop(item)

    await asyncio.gather(*(worker() for _ in range(LIMIT)))
    return results


async def aiometer_run_all(n: int) -> list[int]:
    import aiometer

    jobs = [functools.partial(noop, item) for item in range(n)]
    return await aiometer.run_all(jobs, max_at_once=LIMIT)


async def anyio_capacity_limiter(n: int) -> list[int]:
    import anyio

    limiter = anyio.CapacityLimiter(LIMIT)
    results = [0] * n

    async def guarded(item: int) -> None:
        async with limiter:
            results[item] = await noop(item)

    async with anyio.create_task_group() as group:
        for item in range(n):
            group.start_soon(guarded, item)
    return results


def us_per_item(job: Callable[[int], Coroutine[Any, Any, list[Any]]], n: int) -> float:
    gc.collect()
    start = time.perf_counter()
    results = asyncio.run(job(n))
    elapsed = time.perf_counter() - start
    assert len(results) == n
    return elapsed / n * 1e6


def available(module: str) -> bool:
    try:
        importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def part_one(n: int, runs: int) -> None:
    rows: list[tuple[str, Callable[[int], Coroutine[Any, Any, list[Any]]], str | None]] = [
        ("asyncio.gather + Semaphore(100)  [baseline]", gather_semaphore, None),
        ("gate.map, Gate(concurrency=100)", gate_map, None),
        ("gate.map, errors='return' (Ok/Err)", gate_map_outcomes, None),
        ("gate.map over a generator", gate_map_generator, None),
        ("aiometer.run_all(max_at_once=100)", aiometer_run_all, "aiometer"),
        ("anyio task group + CapacityLimiter(100)", anyio_capacity_limiter, "anyio"),
        ("100 bare workers, shared iterator (floor)", worker_pool, None),
    ]
    print(f"\n1. {n:,} async no-op items, 100 at a time; median of {runs} runs (µs/item)\n")
    print(f"{'variant':46s} {'median':>8s} {'ratio':>7s}   runs")
    baseline = None
    for label, job, needs in rows:
        if needs is not None and not available(needs):
            print(f"{label:46s} skipped: pip install {needs}")
            continue
        # Interleaving would be fairer against drift, but the runs are short and repeated.
        samples = [us_per_item(job, n) for _ in range(runs)]
        median = statistics.median(samples)
        if baseline is None:
            baseline = median
        shown = ", ".join(f"{s:.2f}" for s in samples)
        print(f"{label:46s} {median:8.2f} {median / baseline:6.2f}x   {shown}")


# ---------------------------------------------------------------- part 2: memory, 1M items
def generator(n: int) -> Iterator[int]:
    yield from range(n)


async def stream_all(n: int) -> int:
    gate = sluice.Gate("bench", concurrency=LIMIT)
    count = 0
    async with gate.stream(noop, generator(n)) as results:
        async for _ in results:
            count += 1
    return count


async def stream_ordered(n: int) -> int:
    gate = sluice.Gate("bench", concurrency=LIMIT)
    count = 0
    async with gate.stream(noop, generator(n), ordered=True) as results:
        async for _ in results:
            count += 1
    return count


async def map_all(n: int) -> int:
    return len(await sluice.Gate("bench", concurrency=LIMIT).map(noop, generator(n)))


PART_TWO: dict[str, tuple[str, Callable[[int], Coroutine[Any, Any, int]]]] = {
    "stream": ("gate.stream (unordered)", stream_all),
    "ordered": ("gate.stream (ordered=True)", stream_ordered),
    "map": ("gate.map (returns all results, for contrast)", map_all),
}


def peak_rss() -> int:
    """This process's peak resident memory in bytes."""
    try:  # Linux: the high-water mark of this process image (fresh after exec)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource  # elsewhere; note it may start from the parent's peak

    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def child(variant: str, n: int) -> None:
    """Run one variant in this fresh process; print seconds and peak RSS growth in bytes."""
    gc.collect()
    before = peak_rss()
    start = time.perf_counter()
    count = asyncio.run(PART_TWO[variant][1](n))
    elapsed = time.perf_counter() - start
    assert count == n
    print(elapsed, peak_rss() - before)


def part_two(n: int) -> None:
    print(f"\n2. a generator of {n:,} items, concurrency 100 (each row in a fresh process)\n")
    print(f"{'variant':46s} {'items/s':>12s} {'peak RSS growth':>18s}")
    for variant, (label, _) in PART_TWO.items():
        out = subprocess.run(
            [sys.executable, __file__, "--child", variant, str(n)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        seconds, grown = (float(field) for field in out.stdout.split())
        print(f"{label:46s} {n / seconds:12,.0f} {grown / 1e6:15.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per row in part 1")
    parser.add_argument("--quick", action="store_true", help="10x fewer items, 3 runs")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    items, stream_items, runs = 100_000, 1_000_000, args.runs
    if args.quick:
        items, stream_items, runs = 10_000, 100_000, 3
    versions = {
        name: importlib.metadata.version(name) if available(name) else "missing"
        for name in ("aiometer", "anyio")
    }
    print(f"command: {shlex.join([os.path.relpath(sys.executable), *sys.argv])}")
    system = f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs"
    print(f"python {platform.python_version()} on {system}; {versions}")
    part_one(items, runs)
    part_two(stream_items)


if __name__ == "__main__":
    main()

"""What the loop watchdog costs: a busy asyncio workload with and without `watch_loop`.

The workload starts many tiny tasks at once (each yields to the loop three times) so the loop
is never idle: every heartbeat competes with real work, and the watchdog thread competes for
the GIL. Variants, alternated round by round in the same run:

- no watchdog (the baseline);
- `watch_loop()` at its defaults (threshold 0.1 s, a heartbeat every 25 ms);
- `watch_loop(threshold=0.01)` (a heartbeat every 2.5 ms), to show how the cost scales.

Reported: the process CPU time (`time.process_time`, every thread included) and the
throughput (tasks per wall second), as medians over the rounds and as ratios to the baseline
(taken round by round, then their median). An idle loop watched for one second shows the
watchdog's own CPU cost per second.
Target: the defaults cost at most 1 % CPU.

    python benchmarks/bench_observe.py [--tasks N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable

from _common import header, median, table
from sluice.observe import watch_loop

BASELINE = "no watchdog (baseline)"
DEFAULT = "watch_loop() defaults"
TIGHT = "watch_loop(threshold=0.01)"


async def tiny() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def workload(tasks: int, threshold: float | None) -> None:
    watch = None if threshold is None else watch_loop(threshold)
    try:
        await asyncio.gather(*(tiny() for _ in range(tasks)))
    finally:
        if watch is not None:
            watch.stop()


def measured(run: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds of the whole process, wall seconds) of one call."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


async def idle(threshold: float | None, seconds: float) -> None:
    watch = None if threshold is None else watch_loop(threshold)
    await asyncio.sleep(seconds)
    if watch is not None:
        watch.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    header(
        "loop watchdog overhead on a busy loop",
        f"python benchmarks/bench_observe.py --tasks {args.tasks} --rounds {args.rounds}",
    )
    variants: dict[str, float | None] = {BASELINE: None, DEFAULT: 0.1, TIGHT: 0.01}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(args.rounds):
        # Each round starts with another variant: no variant always runs on a cold or warm heap.
        for name in names[round_ % 3 :] + names[: round_ % 3]:
            used, took = measured(lambda t=variants[name]: asyncio.run(workload(args.tasks, t)))
            cpu[name].append(used)
            wall[name].append(took)
    rows = []
    for name in variants:
        # Ratios are taken round by round, then the median: a noisy round moves all variants.
        cpu_ratio = median([c / b for c, b in zip(cpu[name], cpu[BASELINE], strict=True)])
        speed = median([b / w for w, b in zip(wall[name], wall[BASELINE], strict=True)])
        rows.append(
            [
                name,
                f"{median(cpu[name]):.3f} s",
                f"{cpu_ratio:.3f}x",
                f"{args.tasks / median(wall[name]):,.0f}/s",
                f"{speed:.3f}x",
            ]
        )
    table(rows, ["variant", "CPU (median)", "CPU vs base", "tasks/s", "throughput vs base"])
    idle_rows = []
    for name, threshold in variants.items():
        used, took = measured(lambda t=threshold: asyncio.run(idle(t, 1.0)))
        idle_rows.append([name, f"{used / took * 100:.3f} % of one core"])
    print("   idle loop, watched for 1 s:")
    table(idle_rows, ["variant", "CPU"])
    extra = median([c / b for c, b in zip(cpu[DEFAULT], cpu[BASELINE], strict=True)]) - 1
    verdict = "meets" if extra <= 0.01 else "MISSES"
    print(f"   defaults: {extra * 100:+.2f} % CPU on the busy loop ({verdict} the 1 % target)")


if __name__ == "__main__":
    main()

"""What the loop watchdog costs: a busy asyncio workload with and without `watch_loop`.

The workload keeps the loop busy without blocking it: ``--workers`` coroutines (500) run
``--tasks`` tiny steps between them (each yields to the loop), so the loop is never idle, yet
every pass of the loop handles at most a few hundred callbacks (a millisecond or two): every
heartbeat competes with real work, and the watchdog thread competes for the GIL. (Starting
all the tasks at once would make each pass of the loop run for hundreds of milliseconds: real
stalls, whose capture the watchdog would then rightly pay for; "stalls" shows there were
none.) Variants, alternated round by round in the same run:

- no watchdog (the baseline);
- `watch_loop()` at its defaults (threshold 0.1 s, a heartbeat every 25 ms);
- `watch_loop(threshold=0.01)` (a heartbeat every 2.5 ms), to show how the cost scales;
- no watchdog, but a plain Python thread that wakes every 25 ms and does nothing: on a loop
  that never idles, any thread that wants the GIL now and then costs the loop's thread about
  the same (each time the loop releases the GIL around its poll, the waiting thread is woken
  and finds it taken again), so this is the floor a Python watchdog thread can reach.

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
import threading
import time
from collections.abc import Callable

from _common import header, median, table
from sluice.observe import watch_loop

BASELINE = "no watchdog (baseline)"
PLAIN = "a plain thread waking every 25 ms"
DEFAULT = "watch_loop() defaults"
TIGHT = "watch_loop(threshold=0.01)"


WORKERS = 500
STALLS: dict[float, int] = {}  # threshold -> stalls the watchdog saw over every round


async def worker(steps: int) -> None:
    for _ in range(steps):
        await asyncio.sleep(0)


def plain_thread(stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=lambda: [None for _ in iter(lambda: stop.wait(0.025), True)])
    thread.start()
    return thread


async def workload(tasks: int, threshold: float | None) -> None:
    stop = threading.Event()
    plain = plain_thread(stop) if threshold == 0 else None
    watch = watch_loop(threshold) if threshold else None
    try:
        await asyncio.gather(*(worker(tasks // WORKERS) for _ in range(WORKERS)))
    finally:
        if watch is not None:
            watch.stop()
            STALLS[threshold or 0] = STALLS.get(threshold or 0, 0) + len(watch.stalls)
        if plain is not None:
            stop.set()
            plain.join()


def measured(run: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds of the whole process, wall seconds) of one call."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


async def idle(threshold: float | None, seconds: float) -> None:
    stop = threading.Event()
    plain = plain_thread(stop) if threshold == 0 else None
    watch = watch_loop(threshold) if threshold else None
    await asyncio.sleep(seconds)
    if watch is not None:
        watch.stop()
    if plain is not None:
        stop.set()
        plain.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=600_000, help="steps in all")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    header(
        "loop watchdog overhead on a busy loop",
        f"python benchmarks/bench_observe.py --tasks {args.tasks} --rounds {args.rounds}",
    )
    # None: nothing; 0: the plain thread; else the watchdog's threshold.
    variants: dict[str, float | None] = {BASELINE: None, DEFAULT: 0.1, TIGHT: 0.01, PLAIN: 0}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(args.rounds):
        # Each round starts with another variant: no variant always runs on a cold or warm heap.
        turn = round_ % len(names)
        for name in names[turn:] + names[:turn]:
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
    table(rows, ["variant", "CPU (median)", "CPU vs base", "steps/s", "throughput vs base"])
    seen = ", ".join(f"threshold {t:g} s: {n}" for t, n in sorted(STALLS.items()) if t)
    print(f"   stalls the watchdog saw in the busy rounds: {seen}")
    idle_rows = []
    for name, threshold in variants.items():
        used, took = measured(lambda t=threshold: asyncio.run(idle(t, 1.0)))
        idle_rows.append([name, f"{used / took * 100:.3f} % of one core"])
    print("   idle loop, watched for 1 s:")
    table(idle_rows, ["variant", "CPU"])
    extra = median([c / b for c, b in zip(cpu[DEFAULT], cpu[BASELINE], strict=True)]) - 1
    over_plain = median([c / p for c, p in zip(cpu[DEFAULT], cpu[PLAIN], strict=True)]) - 1
    verdict = "meets" if extra <= 0.01 else "MISSES"
    print(
        f"   defaults: {extra * 100:+.2f} % CPU on the busy loop ({verdict} the 1 % target); "
        f"{over_plain * 100:+.2f} % against a plain thread waking as often"
    )


if __name__ == "__main__":
    main()

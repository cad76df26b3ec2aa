"""Blocking calls from async code: naive `async def` wrappers against Gate.run.

Two plain functions that block for 0.83 s and 0.70 s (an LLM SDK called synchronously, as
in a two-agent pipeline) are run concurrently from async code. Naively, inside `async def`,
they run one after the other (the sum); through `Gate.run` they run on the gate's threads
and overlap. Target: the gated run takes at most 1.1x the longer call.

    python benchmarks/bench_blocking.py [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio

from _common import header, median, table
from sluice.bench._scenarios import blocking_calls

DURATIONS = (0.83, 0.70)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    header("blocking calls: naive gather vs gate.run", "python benchmarks/bench_blocking.py")
    results = [asyncio.run(blocking_calls(DURATIONS)) for _ in range(args.rounds)]
    naive = median([r.naive_s for r in results])
    gated = median([r.gated_s for r in results])
    longest, total = max(DURATIONS), sum(DURATIONS)
    table(
        [
            [
                "asyncio.gather, blocking inside async def",
                f"{naive:.3f} s",
                f"{naive / longest:.2f}x",
            ],
            ["gate.run(blocking_fn)", f"{gated:.3f} s", f"{gated / longest:.2f}x"],
        ],
        ["variant", f"wall (median of {args.rounds})", "vs longest call"],
    )
    print(f"   sum of the calls {total:.2f} s, longest {longest:.2f} s")
    verdict = "meets" if gated / longest <= 1.1 else "MISSES"
    print(f"   gated: {gated / longest:.3f}x the longest call ({verdict} the 1.1x target)")


if __name__ == "__main__":
    main()

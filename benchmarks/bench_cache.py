"""Cost of a cache hit: a cached call answered from the store, against a dict lookup.

Every call asks for the same prompt, so after the first call each one is a hit: the key is
built (JSON of the arguments, BLAKE2b digest), the store is read and the value decoded (every
caller gets its own copy). The baseline is a plain ``dict`` lookup wrapped in a coroutine,
awaited the same way. Variants run in the same process, rounds alternate between them, and
each figure is the median of the rounds. The whole run is bounded to about 20 s.

    python benchmarks/bench_cache.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sluice
import sluice.stores
from _common import header, median, table, timed
from sluice._cache.runner import CacheRunner

REPLY = {
    "text": "A sluice is a sliding gate that controls the flow of water.",
    "usage": {"prompt_tokens": 12, "completion_tokens": 14},
}
PROMPT = "What is a sluice?"


async def ask_model(prompt: str, *, model: str) -> dict[str, Any]:
    return REPLY


def dict_baseline(calls: int) -> Callable[[], Awaitable[None]]:
    table_ = {(PROMPT, "m"): REPLY}

    async def lookup(prompt: str, model: str) -> dict[str, Any]:
        return table_[(prompt, model)]

    async def main() -> None:
        for _ in range(calls):
            await lookup(PROMPT, "m")

    return main


def through_runner(
    calls: int, make_store: Callable[[], Any] | None
) -> Callable[[], Awaitable[None]]:
    async def main() -> None:
        store = None if make_store is None else make_store()
        runner = CacheRunner(sluice.Cache(store=store), namespace="bench")
        args = (PROMPT,)
        kwargs = {"model": "m"}

        def compute() -> Awaitable[dict[str, Any]]:
            return ask_model(PROMPT, model="m")

        await runner.run(ask_model, args, kwargs, compute)  # the one miss
        for _ in range(calls):
            await runner.run(ask_model, args, kwargs, compute)
        await runner.aclose()

    return main


def through_gate(calls: int) -> Callable[[], Awaitable[None]]:
    async def main() -> None:
        async with sluice.Gate("bench", cache=sluice.Cache()) as gate:
            for _ in range(calls + 1):
                await gate.run(ask_model, PROMPT, model="m")

    return main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    calls = args.calls
    header(
        "Cache hit path vs a dict lookup in a coroutine",
        f"python benchmarks/bench_cache.py --calls {calls} --rounds {args.rounds}",
    )
    directory = tempfile.TemporaryDirectory()
    path = Path(directory.name) / "bench.db"
    # A SQLite hit is a round trip to the store's thread: fewer calls keep the run bounded.
    sqlite_calls = max(1, calls // 10)
    variants: dict[str, tuple[int, Callable[[], Awaitable[None]]]] = {
        "dict lookup in a coroutine (baseline)": (calls, dict_baseline(calls)),
        "CacheRunner.run, MemoryStore": (calls, through_runner(calls, None)),
        "CacheRunner.run, SQLiteStore": (
            sqlite_calls,
            through_runner(sqlite_calls, lambda: sluice.stores.SQLiteStore(path)),
        ),
    }
    if "cache" in inspect.signature(sluice.Gate).parameters:
        variants["Gate(cache=Cache()).run"] = (calls, through_gate(calls))
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (_, run) in variants.items():
            seconds[name].append(timed(lambda run=run: asyncio.run(run())))
    directory.cleanup()
    base = median(seconds["dict lookup in a coroutine (baseline)"]) / calls
    rows = []
    for name, values in seconds.items():
        per_call = median(values) / variants[name][0]
        rows.append(
            [name, f"{per_call * 1e6:.2f} us", f"{1 / per_call:,.0f}", f"{per_call / base:.1f}x"]
        )
    table(rows, ["variant", "per call (median)", "calls/s", "vs baseline"])


if __name__ == "__main__":
    main()

"""The shared-state strategy of ``sluice bench strategies``, as its fresh process runs it.

The calls are split between four processes (fewer when there are fewer calls); each makes its
share at once through ``Gate(concurrency=width, shared=RedisState(url))`` and the async
client, so the four together keep at most ``width`` calls in flight, the leases living in
Redis. No retries: a 429 would be a failed call, and counted. Each process reports its
outcomes, its own peak RSS and PSS; the keys the run made in Redis are deleted at the end.

    extra = run_shared({"url": ..., "calls": 20, "width": 20, "timeout": 60.0,
                        "redis": "redis://127.0.0.1:6379/0", "prefix": "sluice-bench-1"})
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import time
from typing import Any

from ._memory import peak_rss, pss

__all__ = ["PROCESSES", "run_shared", "shares"]

PROCESSES = 4


def shares(calls: int, processes: int = PROCESSES) -> list[int]:
    """``calls`` split as evenly as can be between at most ``processes`` processes."""
    count = min(processes, calls)
    return [calls // count + (1 if index < calls % count else 0) for index in range(count)]


async def _share(job: dict[str, Any], count: int) -> dict[str, int]:
    import sluice
    from sluice import llm
    from sluice.stores import RedisState

    outcomes = {"succeeded": 0, "rate_limited": 0, "failed": 0}
    store = RedisState(job["redis"], prefix=job["prefix"])
    message = {"role": "user", "content": "Summarise the plot of a short story."}
    try:
        async with (
            sluice.Gate(
                "strategies", concurrency=job["width"], timeout=job["timeout"], shared=store
            ) as gate,
            llm.Client(job["url"], api_key="sk-bench", gate=gate) as client,
        ):
            calls = (
                client.chat(model="sim-model", messages=[message], max_tokens=1)
                for _ in range(count)
            )
            for result in await asyncio.gather(*calls, return_exceptions=True):
                if isinstance(result, llm.RateLimitError):
                    outcomes["rate_limited"] += 1
                elif isinstance(result, BaseException):
                    outcomes["failed"] += 1
                else:
                    outcomes["succeeded"] += 1
            stats = gate.statistics().shared
            outcomes["degraded"] = 0 if stats is None else stats.degraded_admissions
    finally:
        await store.aclose()
    return outcomes


def _process(job: dict[str, Any], count: int, results: Any) -> None:
    """One of the processes: its share of the calls, then what it measured, on ``results``."""
    try:
        report: dict[str, Any] = asyncio.run(_share(job, count))
    except Exception as exc:  # reported: the parent shows it in the table
        report = {"error": f"{type(exc).__name__}: {exc}"}
    peak = peak_rss()
    results.put({**report, "pid": os.getpid(), "peak_rss": peak, "pss": pss()})


def _forget(url: str, prefix: str) -> None:
    """Delete the keys of this run (they would otherwise linger for a day)."""
    import redis

    with contextlib.suppress(Exception), redis.Redis.from_url(url, socket_timeout=2.0) as client:
        keys = list(client.scan_iter(match=f"{{{prefix}:*"))
        if keys:
            client.delete(*keys)


def run_shared(job: dict[str, Any]) -> dict[str, Any]:
    """Run the calls in the processes; their outcomes and memory, added up."""
    context = multiprocessing.get_context()
    results = context.Queue()
    parts = shares(job["calls"])
    processes = [
        context.Process(target=_process, args=(job, count, results), daemon=True) for count in parts
    ]
    reports: list[dict[str, Any]] = []
    deadline = time.monotonic() + job["timeout"]
    try:
        for process in processes:
            process.start()
        while len(reports) < len(processes):
            try:
                reports.append(results.get(timeout=0.2))
            except queue.Empty:
                if all(p.exitcode is not None for p in processes) or time.monotonic() > deadline:
                    break  # a process died without a report, or the run is over its time
    finally:
        for process in processes:
            process.join(timeout=5.0)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5.0)
        _forget(job["redis"], job["prefix"])
    errors = [r["error"] for r in reports if "error" in r]
    if len(reports) < len(processes) or errors:
        raise RuntimeError(errors[0] if errors else "a process of the shared run did not report")
    counted = ("succeeded", "rate_limited", "failed")
    total = {key: sum(r[key] for r in reports) for key in counted}
    return {
        **total,
        "degraded": sum(r["degraded"] for r in reports),
        "processes": len(processes),
        "shares": parts,
        "pool_peak_rss": sum(r["peak_rss"] for r in reports),
        "pool_pss": sum(r["pss"] for r in reports),
    }

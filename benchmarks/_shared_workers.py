"""The worker processes of bench_shared.py, and how the parent starts, releases and reaps them.

Every worker builds its gate (and client) first, reports ready, then waits for the parent's
start signal, so the four begin at one instant (the monotonic clock is system-wide on Linux
and macOS) and process start-up never counts. Each one reports a dict on its queue.

    results = run_workers(decisions, [job] * 4, before_start=None)
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis

import sluice
from sluice.stores import RedisState

WORKERS = 4
MODEL = "sim-model"
MESSAGES = [{"role": "user", "content": "Say hello."}]
READY_WITHIN = 60.0  # seconds a worker may take to import and build its gate
GRACE = 30.0  # seconds past its window a worker may take to report

Worker = Callable[[dict[str, Any], Any, Any, Any], None]


async def noop() -> None:
    return None


def shared_store(job: dict[str, Any]) -> RedisState | None:
    """The job's RedisState, if it shares, with the default pool (64 connections per loop;
    callers past that wait their turn in order)."""
    url = job.get("redis")
    if url is None:
        return None
    return RedisState(url, prefix=job["prefix"])


def evalsha_calls(url: str) -> int:
    """EVALSHA commands the server has run so far (INFO commandstats)."""
    with redis.Redis.from_url(url) as client:
        stats: dict[str, Any] = client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def leases_left(url: str, prefix: str) -> int:
    """Leases still held in Redis by this run's gates (all were closed: expect 0)."""
    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{{{prefix}:*:leases"))
        return sum(int(client.zcard(key)) for key in keys)


def forget(url: str, prefix: str) -> None:
    """Delete this run's keys (they would expire after a day anyway)."""
    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{{{prefix}:*"))
        if keys:
            client.delete(*keys)


def _wait_start(ready: Any, go: Any, start: Any) -> float:
    ready.put("ready")
    if not go.wait(READY_WITHIN):
        raise TimeoutError("no start signal")
    return float(start.value)


async def _until(at: float) -> None:
    await asyncio.sleep(max(0.0, at - time.monotonic()))


async def decide(gate: sluice.Gate, callers: int, end: float) -> int:
    """Decisions ``callers`` coroutines make calling ``gate.run(noop)`` back to back until
    ``end`` (monotonic time)."""
    done = 0

    async def caller() -> None:
        nonlocal done
        while time.monotonic() < end:
            await gate.run(noop)
            done += 1

    await asyncio.gather(*(caller() for _ in range(callers)))
    return done


def decisions(job: dict[str, Any], ready: Any, go: Any, start: Any) -> None:
    """Admit ``gate.run(noop)`` from ``callers`` coroutines for ``seconds``; count them."""

    async def main() -> dict[str, Any]:
        shared = shared_store(job)
        gate = sluice.Gate(
            job["name"],
            rate=sluice.Rate(rps=1e9, burst=1000),
            concurrency=job["concurrency"],
            breaker=sluice.Breaker(),
            shared=shared,
        )
        await gate.run(noop)  # connects, loads the scripts
        at = _wait_start(ready, go, start)
        await _until(at)
        done = await decide(gate, job["callers"], at + job["seconds"])
        elapsed = time.monotonic() - at
        stats = gate.statistics().shared
        await gate.aclose()
        if shared is not None:
            await shared.aclose()
        degraded = 0 if stats is None else stats.degraded_admissions
        return {"decisions": done, "seconds": elapsed, "degraded": degraded}

    job["results"].put(asyncio.run(main()))


def utilisation(job: dict[str, Any], ready: Any, go: Any, start: Any) -> None:
    """Send chat completions as fast as the gate allows for ``seconds``; count the outcomes.

    No retries, and every call carries the window's end as its deadline: a gate that cannot
    admit a call before the end refuses it at once, so a 429's cooldown never outlasts it."""
    from sluice import llm

    async def main() -> dict[str, Any]:
        shared = shared_store(job)
        gate = sluice.Gate(
            job["name"],
            rate=sluice.Rate(rpm=job["rpm"]),
            concurrency=job["concurrency"],
            shared=shared,
        )
        client = llm.Client(job["url"], api_key=job["key"], gate=gate)
        counts: Counter[str] = Counter()
        at = _wait_start(ready, go, start)
        end = at + job["seconds"]
        await _until(at)

        async def caller() -> None:
            while (left := end - time.monotonic()) > 0:
                try:
                    await client.chat(
                        model=MODEL,
                        messages=MESSAGES,
                        max_tokens=1,
                        timeout=sluice.Timeout(total=left),
                    )
                    counts["ok"] += 1
                except llm.RateLimitError:
                    counts["429"] += 1
                except sluice.DeadlineExceeded:
                    counts["not admitted before the end"] += 1
                    return  # the next slot lies past the window: this caller is done
                except Exception as exc:  # counted, shown in the table
                    counts[type(exc).__name__] += 1

        await asyncio.gather(*(caller() for _ in range(job["callers"])))
        stats = gate.statistics().shared
        await client.aclose()
        await gate.aclose()
        if shared is not None:
            await shared.aclose()
        counts["degraded"] = 0 if stats is None else stats.degraded_admissions
        return dict(counts)

    job["results"].put(asyncio.run(main()))


def _take(box: Any, processes: list[Any], within: float) -> Any:
    """The next item of ``box``; fails early when a worker has died without one."""
    deadline = time.monotonic() + within
    while True:
        try:
            return box.get(timeout=0.2)
        except queue.Empty:
            dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"a worker process failed (exit code {dead[0]})") from None
            if time.monotonic() > deadline:
                raise RuntimeError("a worker process did not report in time") from None


def run_workers(
    target: Worker, jobs: list[dict[str, Any]], before_start: Callable[[], None] | None
) -> list[dict[str, Any]]:
    """Start one process per job, wait until all are ready, run ``before_start``, release
    them together, and return their reports. A worker that fails or hangs fails the run; every
    worker is joined, and terminated if it outlives its report by 10 s."""
    context = multiprocessing.get_context("spawn")
    ready, go = context.Queue(), context.Event()
    start = context.Value("d", 0.0)
    results = context.Queue()
    processes = [
        context.Process(target=target, args=({**job, "results": results}, ready, go, start))
        for job in jobs
    ]
    finished = False
    try:
        for process in processes:
            process.start()
        for _ in processes:
            _take(ready, processes, READY_WITHIN)
        if before_start is not None:
            before_start()
        start.value = time.monotonic() + 0.05
        go.set()
        window = max(job["seconds"] for job in jobs)
        reports = [_take(results, processes, window + GRACE) for _ in processes]
        finished = True
        return reports
    finally:
        for process in processes:
            if not finished and process.is_alive():
                process.terminate()  # the run failed: nothing left to wait for
            process.join(timeout=10.0)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5.0)

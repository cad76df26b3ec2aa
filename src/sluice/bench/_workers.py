"""Several load-generator processes, one per core, driving one level together.

One Python process saturates a core long before a fast target does. `WorkerPool` starts N
processes (``spawn``: nothing inherited but the arguments) that stay up for the whole sweep.
For each level, every process gets its share (users split as evenly as possible; the rate
split evenly, constant schedules interleaved by an offset and Poisson ones seeded apart, so
the union is the requested process), all start at the same instant of the shared monotonic
clock, and each returns its *raw samples*. The parent concatenates them and computes every
statistic from the merged samples: percentiles are never averaged.

Workers ignore SIGINT; Ctrl-C in the parent sets a shared event that ends every worker's
level early, and what they measured still comes back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ._health import HealthMonitor
from ._load import LevelJob, LevelRun, run_job
from ._samples import SampleSet
from ._schedule import PaceStats
from ._senders import open_target
from ._targets import TargetSpec

__all__ = ["WorkerPool", "part_spec", "run_local", "split_job"]

_START_MARGIN = 0.5  # seconds between handing out a level and its common start instant
_STOP: Any = None  # the shared stop event, in a worker process


def split_job(job: LevelJob, workers: int) -> list[LevelJob]:
    """``job`` cut into per-process shares whose union is the whole level."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    if workers == 1:
        return [job]
    if job.model == "closed":
        users = int(job.level)
        shares = [users // workers + (1 if i < users % workers else 0) for i in range(workers)]
        # Each process spreads its users over one cycle; the offsets interleave the processes.
        return [
            dataclasses.replace(job, level=float(n), offset=i / workers)
            for i, n in enumerate(shares)
            if n > 0
        ]
    rate = job.level
    cap = max(1, job.max_in_flight // workers)
    return [
        dataclasses.replace(
            job,
            level=rate / workers,
            offset=job.offset + (i / rate if job.arrival == "constant" else 0.0),
            seed=job.seed + i * 7919,
            max_in_flight=cap,
        )
        for i in range(workers)
    ]


async def run_local(
    spec: TargetSpec, job: LevelJob, *, send: Any = None, stop: Any = None
) -> LevelRun:
    """Run ``job`` in this process (opening the target unless ``send`` is given)."""
    loop = asyncio.get_running_loop()
    stop_flag = stop if stop is not None else (lambda: False)
    start = loop.time() if job.start_at is None else job.start_at
    job = dataclasses.replace(job, start_at=start)
    async with HealthMonitor(pid=os.getpid(), measure_from=start + job.phase.warmup) as monitor:
        if send is None:
            async with open_target(spec, clock=loop.time) as opened:
                run = await run_job(opened, job, clock=loop.time, stop=stop_flag)
        else:
            run = await run_job(send, job, clock=loop.time, stop=stop_flag)
    run.health = [monitor.report()]
    return run


def _init_worker(stop: Any) -> None:
    global _STOP
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STOP = stop


def _stopped() -> bool:
    return _STOP is not None and bool(_STOP.is_set())


def _worker_level(spec: TargetSpec, job: LevelJob) -> LevelRun:
    # asyncio's loop.time() is time.monotonic(), one clock for every process on the host.
    return asyncio.run(run_local(spec, job, stop=_stopped))


def _ping(delay: float) -> int:
    time.sleep(delay)
    return os.getpid()


def part_spec(spec: TargetSpec, index: int, count: int) -> TargetSpec:
    """``spec`` for process ``index`` of ``count``: its share of the bodies, taken in turn."""
    if spec.bodies is None:
        return spec
    return dataclasses.replace(spec, body_part=(index, count))


def merge_runs(runs: list[LevelRun]) -> LevelRun:
    """One level's runs from several processes, as one (raw samples concatenated)."""
    pace = None
    if any(run.pace is not None for run in runs):
        pace = PaceStats()
        for run in runs:
            if run.pace is not None:
                pace.extend(run.pace)
    return LevelRun(
        samples=SampleSet.merge(run.samples for run in runs),
        window=max(run.window for run in runs),
        pace=pace,
        interrupted=any(run.interrupted for run in runs),
        abandoned=sum(run.abandoned for run in runs),
        health=[health for run in runs for health in run.health],
    )


class WorkerPool:
    """N generator processes for a sweep; ``async with`` starts and stops them."""

    def __init__(self, workers: int) -> None:
        if workers < 2:
            raise ValueError(f"a worker pool needs >= 2 processes, got {workers!r}")
        self.workers = workers
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(self._stop,)
        )

    async def __aenter__(self) -> WorkerPool:
        # Start every process now (a late starter would miss the common start instant).
        pings = [self._pool.submit(_ping, 0.2) for _ in range(self.workers)]
        await asyncio.gather(*(asyncio.wrap_future(p) for p in pings))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: self._pool.shutdown(True, cancel_futures=True))

    def request_stop(self) -> None:
        self._stop.set()

    async def run_level(self, spec: TargetSpec, job: LevelJob) -> LevelRun:
        """Run ``job`` split over the processes; their raw samples merged."""
        start_at = time.monotonic() + _START_MARGIN
        shares = split_job(dataclasses.replace(job, start_at=start_at), self.workers)
        futures = [
            asyncio.wrap_future(self._pool.submit(_worker_level, part_spec(spec, i, n), share))
            for i, share in enumerate(shares)
            for n in [len(shares)]
        ]
        try:
            runs = await asyncio.gather(*futures)
        except asyncio.CancelledError:
            self._stop.set()
            raise
        return merge_runs(list(runs))

"""Running one load level: the closed model (N users) and the open model (a rate).

Closed: N users, each sending its next request as soon as the previous one finished (like
Locust users or a fixed-parallelism client), their starts spread over one request latency.
Latency runs from the actual send; the arrival rate is an output, and the model under-samples
stalls (coordinated omission).

Open: requests arrive on a schedule fixed in advance (see `_schedule`), whether or not earlier
ones have finished, each as its own task. Latency runs from the *scheduled* send time, so a
stall of the target, or of the generator itself, shows in the latency. An in-flight cap bounds
memory; an arrival that finds it full is dropped and counted.

Both measure after a warm-up, for a duration or a number of requests, and everything is
bounded: once no new request may start, in-flight ones get at most their timeout; after a stop
request, at most ``grace`` seconds. Clock, sleep and stop are injected (virtual time in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from .._clock import Reader
from ._level import (
    POLL,
    LevelRun,
    Phase,
    Sleep,
    never,
    record,
    supervise,
    wait_until,
    window_of,
)
from ._samples import SampleSet
from ._schedule import arrivals, pace, plan_offsets
from ._targets import Send

__all__ = ["LevelJob", "LevelRun", "Phase", "record", "run_closed", "run_job", "run_open"]


async def run_closed(
    send: Send,
    users: int,
    phase: Phase,
    *,
    clock: Reader,
    sleep: Sleep = asyncio.sleep,
    stop: Callable[[], bool] = never,
    start_at: float | None = None,
    offset: float = 0.0,
) -> LevelRun:
    """``users`` concurrent users, each sending its next request when the last one ended.

    The users do not start in lockstep: one request is sent alone first, and its latency L
    spreads the users' starts evenly over one cycle (user i starts (i + ``offset``) / users * L
    after it ended). In lockstep, every user's sends would fall at the same instants and the
    count of requests started in the window would jump by whole cycles (up to ``users``
    requests); spread, it is within about one request of window * users / mean latency.
    That first request and the spreading belong to the warm-up, which bounds the spread to
    half of it: give a warm-up longer than two request latencies (the default 1 s suits
    answers up to half a second); with no warm-up the users start together.
    ``offset`` (in [0, 1)) shifts this process's users when several processes share a level.
    """
    if users < 1:
        raise ValueError(f"users must be >= 1, got {users!r}")
    t0 = await wait_until(start_at, clock, sleep)
    measure_from = t0 + phase.warmup
    end_at = measure_from + phase.measured_span
    samples = SampleSet()
    tickets = [phase.requests]
    first_done = asyncio.Event()
    spread: list[float] = []  # the first request's latency, once known

    async def stagger(index: int) -> None:
        """Wait for the first request's latency L, then until T + (index + offset) / users * L
        (T: when it ended), so that sends are spread evenly over one cycle."""
        while not first_done.is_set() and not stop():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(first_done.wait(), POLL)
        if spread:
            ended, latency = spread
            cycle = min(latency, phase.warmup / 2)
            await wait_until(ended + (index + offset) / users * cycle, clock, sleep)

    async def user(index: int) -> None:
        if not phase.warmup:
            first_done.set()  # no warm-up to spread the users in: they start together
        elif index == 0:
            sent = clock()
            await send()  # paces the stagger; part of the warm-up, never measured
            spread[:] = [clock(), clock() - sent]
            first_done.set()
        await stagger(index)
        while not stop():
            now = clock()
            if now >= end_at:
                return
            measured = now >= measure_from
            if measured and tickets[0] is not None:
                if tickets[0] <= 0:
                    return
                tickets[0] -= 1
            reply = await send()
            if measured:
                record(samples, now, now, clock(), reply)

    loop = asyncio.get_running_loop()
    tasks = {loop.create_task(user(i)) for i in range(users)}
    state = await supervise(
        tasks, clock=clock, stop=stop, hard_end=end_at + phase.timeout + 1.0, grace=phase.grace
    )
    return LevelRun(
        samples=samples,
        window=window_of(phase, measure_from, samples, state, clock),
        interrupted=state.interrupted,
        abandoned=state.abandoned,
    )


async def run_open(
    send: Send,
    rate: float,
    phase: Phase,
    *,
    clock: Reader,
    sleep: Sleep = asyncio.sleep,
    stop: Callable[[], bool] = never,
    start_at: float | None = None,
    arrival: str = "constant",
    seed: int = 0,
    offset: float = 0.0,
    max_in_flight: int = 10_000,
) -> LevelRun:
    """Requests arriving at ``rate`` per second; latency measured from the scheduled time.

    ``offset`` shifts this process's arrivals (several processes sharing a constant rate
    interleave their schedules).
    """
    if not rate > 0:
        raise ValueError(f"rate must be > 0 per second, got {rate!r}")
    t0 = await wait_until(start_at, clock, sleep)
    measure_from = t0 + phase.warmup
    samples = SampleSet()
    loop = asyncio.get_running_loop()
    in_flight: set[asyncio.Task[None]] = set()
    failures: list[BaseException] = []

    async def one(due: float) -> None:
        sent = clock()
        reply = await send()
        if due >= measure_from:
            record(samples, due, sent, clock(), reply)

    def finished(task: asyncio.Task[None]) -> None:
        in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            failures.append(task.exception())  # type: ignore[arg-type]

    def fire(due: float) -> bool:
        if len(in_flight) >= max_in_flight:
            return False
        task = loop.create_task(one(due))
        in_flight.add(task)
        task.add_done_callback(finished)
        return True

    offsets = plan_offsets(
        arrivals(rate, arrival, seed=seed, phase=offset),
        warmup=phase.warmup,
        duration=phase.duration,
        requests=phase.requests,
        max_time=phase.max_time,
    )
    try:
        paced = await pace(
            offsets, t0, fire, clock=clock, sleep=sleep, stop=stop, measure_from=measure_from
        )
    except BaseException:
        for task in in_flight:
            task.cancel()
        raise
    state = await supervise(
        set(in_flight),
        clock=clock,
        stop=stop,
        hard_end=clock() + phase.timeout + 1.0,
        grace=phase.grace,
    )
    if failures:
        raise failures[0]
    return LevelRun(
        samples=samples,
        window=window_of(phase, measure_from, samples, state, clock),
        pace=paced,
        interrupted=state.interrupted,
        abandoned=state.abandoned,
    )


@dataclass(frozen=True, slots=True)
class LevelJob:
    """One level as one process runs it: the model, this process's share of the level."""

    model: str  # "closed" or "open"
    level: float  # users (closed) or requests per second (open)
    phase: Phase
    arrival: str = "constant"
    seed: int = 0
    offset: float = 0.0
    max_in_flight: int = 10_000
    start_at: float | None = None


async def run_job(
    send: Send,
    job: LevelJob,
    *,
    clock: Reader,
    sleep: Sleep = asyncio.sleep,
    stop: Callable[[], bool] = never,
) -> LevelRun:
    """Run ``job`` with the closed or the open runner."""
    if job.model == "closed":
        return await run_closed(
            send,
            int(job.level),
            job.phase,
            clock=clock,
            sleep=sleep,
            stop=stop,
            start_at=job.start_at,
            offset=job.offset,
        )
    if job.model == "open":
        return await run_open(
            send,
            job.level,
            job.phase,
            clock=clock,
            sleep=sleep,
            stop=stop,
            start_at=job.start_at,
            arrival=job.arrival,
            seed=job.seed,
            offset=job.offset,
            max_in_flight=job.max_in_flight,
        )
    raise ValueError(f"model must be 'closed' or 'open', got {job.model!r}")

"""Running one load level: the closed model (N users) and the open model (a rate).

Closed: N users, each sending its next request as soon as the previous one finished (like
Locust users or a fixed-parallelism client). Latency runs from the actual send; the arrival
rate is an output, and the model under-samples stalls (coordinated omission).

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .._clock import Reader
from ._samples import SampleSet
from ._schedule import PaceStats, arrivals, pace, plan_offsets
from ._targets import Reply, Send

__all__ = ["LevelRun", "Phase", "record", "run_closed", "run_open"]

Sleep = Callable[[float], Awaitable[object]]
_POLL = 0.1  # how often a waiting runner looks at the stop flag


def _never() -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Phase:
    """Timing of one level. Exactly one of ``duration`` and ``requests`` is set.

    ``warmup``: seconds of load before measuring. ``duration``: seconds measured.
    ``requests``: requests measured (then ``max_time`` caps the measured part). ``timeout``:
    per request. ``grace``: how long in-flight requests may finish after a stop request.
    """

    warmup: float = 1.0
    duration: float | None = 5.0
    requests: int | None = None
    timeout: float = 30.0
    max_time: float = 300.0
    grace: float = 1.0

    def __post_init__(self) -> None:
        if (self.duration is None) == (self.requests is None):
            raise ValueError("give exactly one of duration and requests")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0 s, got {self.warmup!r}")
        if self.duration is not None and not self.duration > 0:
            raise ValueError(f"duration must be > 0 s, got {self.duration!r}")
        if self.requests is not None and self.requests < 1:
            raise ValueError(f"requests must be >= 1, got {self.requests!r}")

    @property
    def measured_span(self) -> float:
        """Longest the measured part can last (new requests stop starting after it)."""
        return self.duration if self.duration is not None else self.max_time

    @property
    def bound(self) -> float:
        """Longest a level can take from its start, stragglers included."""
        return self.warmup + self.measured_span + self.timeout + self.grace + 1.0


@dataclass(slots=True)
class LevelRun:
    """Raw outcome of one level in one process."""

    samples: SampleSet
    window: float
    pace: PaceStats | None = None
    interrupted: bool = False
    abandoned: int = 0
    health: list[Any] = field(default_factory=list)


def record(samples: SampleSet, start: float, sent: float, end: float, reply: Reply) -> None:
    """Add a finished request to ``samples``, TTFT relative to the reference ``start``."""
    samples.add(
        start=start,
        sent=sent,
        end=end,
        outcome=reply.outcome,
        status=reply.status,
        ttft=None if reply.first_token is None else reply.first_token - start,
        tokens=reply.tokens,
        gaps=reply.gaps,
        detail=reply.detail,
    )


async def _wait_until(when: float | None, clock: Reader, sleep: Sleep) -> float:
    if when is not None:
        while (remaining := when - clock()) > 0:
            await sleep(remaining)
        return when
    return clock()


@dataclass(slots=True)
class _Supervision:
    interrupted: bool = False
    stopped_at: float | None = None
    abandoned: int = 0


async def _supervise(
    tasks: set[asyncio.Task[None]],
    *,
    clock: Reader,
    stop: Callable[[], bool],
    hard_end: float,
    grace: float,
) -> _Supervision:
    """Wait for ``tasks``; after a stop request or at ``hard_end``, cancel the stragglers."""
    state = _Supervision()
    cut_at = hard_end
    try:
        while tasks:
            if stop() and not state.interrupted:
                state.interrupted, state.stopped_at = True, clock()
                cut_at = min(cut_at, clock() + grace)
            if clock() >= cut_at:
                break
            done, _ = await asyncio.wait(tasks, timeout=min(_POLL, cut_at - clock()))
            for task in done:
                tasks.discard(task)
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
    finally:
        state.abandoned = len(tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    if stop() and not state.interrupted:  # every task saw the stop before this loop did
        state.interrupted, state.stopped_at = True, clock()
    return state


def _window(
    phase: Phase, measure_from: float, samples: SampleSet, state: _Supervision, clock: Reader
) -> float:
    if phase.duration is not None:
        end = measure_from + phase.duration
    else:
        end = max(samples.end, default=clock())
    if state.stopped_at is not None:
        end = min(end, state.stopped_at)
    return max(end - measure_from, 1e-9)


async def run_closed(
    send: Send,
    users: int,
    phase: Phase,
    *,
    clock: Reader,
    sleep: Sleep = asyncio.sleep,
    stop: Callable[[], bool] = _never,
    start_at: float | None = None,
) -> LevelRun:
    """``users`` concurrent users, each sending its next request when the last one ended."""
    if users < 1:
        raise ValueError(f"users must be >= 1, got {users!r}")
    t0 = await _wait_until(start_at, clock, sleep)
    measure_from = t0 + phase.warmup
    end_at = measure_from + phase.measured_span
    samples = SampleSet()
    tickets = [phase.requests]

    async def user() -> None:
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
    tasks = {loop.create_task(user()) for _ in range(users)}
    state = await _supervise(
        tasks, clock=clock, stop=stop, hard_end=end_at + phase.timeout + 1.0, grace=phase.grace
    )
    return LevelRun(
        samples=samples,
        window=_window(phase, measure_from, samples, state, clock),
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
    stop: Callable[[], bool] = _never,
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
    t0 = await _wait_until(start_at, clock, sleep)
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
    state = await _supervise(
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
        window=_window(phase, measure_from, samples, state, clock),
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
    stop: Callable[[], bool] = _never,
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

"""Simulated upstreams with a hidden capacity, and a driver that runs calls the way a gate does.

Shared by the adaptive-concurrency tests (virtual time) and ``benchmarks/bench_adaptive.py``
(real time): both only use the running loop's clock and timers.

- `QueueingUpstream` never refuses: it serves the calls in flight by processor sharing, as if
  it had ``capacity`` workers. Up to ``capacity`` calls each get a full worker; beyond that they
  share, so every call slows down in proportion (latency = work * in_flight / capacity).
- `RejectingUpstream` serves up to ``capacity`` calls at full speed and answers any call beyond
  that, after a short delay, with an error marked ``overloaded = True`` (like an HTTP 429).
- `AdaptiveDriver` takes `ConcurrencyLimiter` permits, times each attempt from the permit to
  its end, feeds the outcome to an `AdaptiveLimit` and applies the new limit. With
  ``min == max`` it is a fixed limit running through the very same code.
- `closed_loop` keeps a number of callers busy, each sending its next call when one ends.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sluice._stages.adaptive import AdaptiveLimit
from sluice._stages.permits import ConcurrencyLimiter
from sluice.policies.adaptive import Adaptive

T = TypeVar("T")


class UpstreamOverloaded(Exception):
    """What a rejecting upstream raises beyond its capacity (the error protocol of a 429)."""

    overloaded = True
    retryable = True


class QueueingUpstream:
    """Processor sharing over ``capacity`` workers; each call needs ``base`` seconds of work,
    give or take ``jitter`` (a fraction), drawn from a seeded generator."""

    def __init__(
        self, capacity: int, *, base: float = 1.0, jitter: float = 0.1, seed: int = 0
    ) -> None:
        self.capacity = capacity
        self.base = base
        self.jitter = jitter
        self.running = 0
        self.peak = 0
        self.completed = 0
        self._rng = random.Random(seed)
        # Service received so far by any call present since the start (all share equally), and
        # the calls ordered by the level of it at which they are done.
        self._attained = 0.0
        self._updated = 0.0
        self._jobs: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = 0
        self._timer: asyncio.TimerHandle | None = None

    async def __call__(self) -> None:
        loop = asyncio.get_running_loop()
        self._advance(loop.time())
        work = self.base * self._rng.uniform(1 - self.jitter, 1 + self.jitter)
        done: asyncio.Future[None] = loop.create_future()
        self._sequence += 1
        heapq.heappush(self._jobs, (self._attained + work, self._sequence, done))
        self.running += 1
        self.peak = max(self.peak, self.running)
        self._schedule(loop)
        try:
            await done
        except asyncio.CancelledError:
            if not done.done() or done.cancelled():
                self._advance(loop.time())
                self.running -= 1  # its heap entry is skipped when it surfaces
                self._schedule(loop)
            raise

    def set_capacity(self, capacity: int) -> None:
        """Change the capacity from now on (calls in flight speed up or slow down)."""
        loop = asyncio.get_running_loop()
        self._advance(loop.time())
        self.capacity = capacity
        self._schedule(loop)

    def _speed(self) -> float:
        return min(1.0, self.capacity / self.running) if self.running else 1.0

    def _advance(self, now: float) -> None:
        if self.running:
            self._attained += (now - self._updated) * self._speed()
        self._updated = now

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        jobs = self._jobs
        while jobs and jobs[0][2].done():
            heapq.heappop(jobs)
        if jobs:
            delay = max(0.0, (jobs[0][0] - self._attained) / self._speed())
            self._timer = loop.call_at(self._updated + delay, self._finish, loop)

    def _finish(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._advance(loop.time())
        jobs = self._jobs
        while jobs and (jobs[0][2].done() or jobs[0][0] <= self._attained + 1e-12):
            _, _, done = heapq.heappop(jobs)
            if not done.done():
                done.set_result(None)
                self.running -= 1
                self.completed += 1
        self._schedule(loop)


class RejectingUpstream:
    """Serves up to ``capacity`` calls (``base`` seconds each, give or take ``jitter``); a call
    beyond that fails after ``reject_after`` seconds with `UpstreamOverloaded`."""

    def __init__(
        self,
        capacity: int,
        *,
        base: float = 1.0,
        jitter: float = 0.1,
        reject_after: float = 0.05,
        seed: int = 0,
    ) -> None:
        self.capacity = capacity
        self.base = base
        self.jitter = jitter
        self.reject_after = reject_after
        self.running = 0
        self.peak = 0
        self.completed = 0
        self.rejected = 0
        self._rng = random.Random(seed)

    async def __call__(self) -> None:
        if self.running >= self.capacity:
            self.rejected += 1
            await asyncio.sleep(self.reject_after)
            raise UpstreamOverloaded(f"over capacity ({self.capacity} calls in flight)")
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.base * self._rng.uniform(1 - self.jitter, 1 + self.jitter))
        finally:
            self.running -= 1
        self.completed += 1


class AdaptiveDriver:
    """Runs calls under an adaptive limit exactly as the gate's attempt does: take a permit
    (``try_acquire``, else wait), time the attempt from the permit on, release, then feed
    ``(now, latency, in flight at start, error)`` to the controller and apply its answer."""

    def __init__(self, config: Adaptive, *, timeout: float | None = None) -> None:
        self.controller = AdaptiveLimit(config)
        self.limiter = ConcurrencyLimiter(config.limiter_config(), gate="driver")
        self.timeout = timeout
        # (time, limit) after every outcome fed to the controller; when calls succeeded.
        self.trace: list[tuple[float, int]] = []
        self.successes: list[float] = []

    async def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        limiter = self.limiter
        if not limiter.try_acquire():
            await limiter.acquire()
        loop = asyncio.get_running_loop()
        in_flight = limiter.in_flight
        started = loop.time()
        try:
            if self.timeout is None:
                result = await fn()
            else:
                async with asyncio.timeout(self.timeout):
                    result = await fn()
        except BaseException as exc:
            limiter.release()
            self._observe(loop.time(), started, in_flight, exc)
            raise
        limiter.release()
        now = loop.time()
        self.successes.append(now)
        self._observe(now, started, in_flight, None)
        return result

    def _observe(
        self, now: float, started: float, in_flight: int, error: BaseException | None
    ) -> None:
        new = self.controller.on_outcome(now, now - started, in_flight, error)
        if new is not None:
            self.limiter.set_limit(new)
        self.trace.append((now, self.controller.limit))

    def limits(self, last: float = 0.5) -> list[int]:
        """The limit after each of the last ``last`` fraction of outcomes."""
        return [limit for _, limit in self.trace[int(len(self.trace) * (1 - last)) :]]

    def throughput(self, since: float, until: float) -> float:
        """Successful calls per second that ended within ``[since, until)``."""
        return sum(since <= t < until for t in self.successes) / (until - since)


async def closed_loop(
    call: Callable[[Callable[[], Awaitable[None]]], Awaitable[None]],
    upstream: Callable[[], Awaitable[None]],
    *,
    workers: int,
    duration: float,
) -> tuple[int, int]:
    """``workers`` callers each send one call after another through ``call`` until
    ``duration`` seconds have passed (a failed call is followed by the next one at once).
    Returns how many calls succeeded and failed."""
    loop = asyncio.get_running_loop()
    end = loop.time() + duration
    succeeded = failed = 0

    async def worker() -> None:
        nonlocal succeeded, failed
        while loop.time() < end:
            try:
                await call(upstream)
            except Exception:
                failed += 1
            else:
                succeeded += 1

    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(worker())
    return succeeded, failed

"""The load generator watching itself: its CPU use and its event loop's lag.

A Python load generator saturates long before most servers do (one aiohttp process tops out
around 15-19k requests/s per core). When it does, it queues requests inside itself and reports
its own delay as the target's latency. The monitor samples, every `interval` seconds, the
process CPU time over wall time, how long the event loop's thread waited for a CPU while
runnable (Linux ``schedstat``: on a shared machine a starved generator is as much a
bottleneck as a saturated one), and how late a timer fires (event-loop lag).
`health_warnings` turns that into warnings.

    async with HealthMonitor() as monitor:
        await run_level()
    report = monitor.report()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from ._stats import percentile

__all__ = [
    "CPU_SUSPECT",
    "CPU_WARN",
    "LAG_WARN",
    "Health",
    "HealthMonitor",
    "generator_bottleneck",
    "health_warnings",
]

CPU_WARN = 0.80  # warn when the generator uses more than 80 % of one core
LAG_WARN = 0.020  # warn when the loop's p99 timer lag exceeds 20 ms
# A level is suspect (never "ok") when a generator process wanted at least this share of a
# core (used + waited for), or its loop lagged more than LAG_WARN at p99: see
# `generator_bottleneck`.
CPU_SUSPECT = 0.90


@dataclass(frozen=True, slots=True)
class Health:
    """One generator process over one level. CPU figures are shares of one core (1.0 = 100 %):
    ``cpu`` used, ``cpu_wait`` spent runnable but waiting for a CPU (0 where unknown)."""

    cpu: float
    cpu_peak: float
    lag_p99: float
    lag_max: float
    samples: int
    pid: int = 0
    cpu_wait: float = 0.0

    @property
    def cpu_demand(self) -> float:
        """The share of a core the generator wanted: used plus waited for."""
        return self.cpu + self.cpu_wait


def run_queue_wait() -> float:
    """Seconds the calling thread has spent runnable but not running (Linux), else 0."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as file:
            return int(file.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


class HealthMonitor:
    """Samples CPU and loop lag in a background task while the ``async with`` body runs.

    With ``measure_from`` (a loop time), nothing before that instant counts.
    """

    def __init__(
        self,
        interval: float = 0.05,
        *,
        measure_from: float | None = None,
        cpu_time: Callable[[], float] = time.process_time,
        wall_time: Callable[[], float] = time.perf_counter,
        wait_time: Callable[[], float] = run_queue_wait,
        pid: int = 0,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0 s, got {interval!r}")
        self._interval = interval
        self._measure_from = measure_from
        self._cpu_time = cpu_time
        self._wall_time = wall_time
        self._wait_time = wait_time
        self._pid = pid
        self._lags: list[float] = []
        self._cpu_shares: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._cpu0 = self._wall0 = self._wait0 = 0.0
        self._cpu1: float | None = None
        self._wall1: float | None = None
        self._wait1: float | None = None

    def _mark(self) -> tuple[float, float, float]:
        return self._cpu_time(), self._wall_time(), self._wait_time()

    async def __aenter__(self) -> HealthMonitor:
        self._cpu0, self._wall0, self._wait0 = self._mark()
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._cpu1, self._wall1, self._wait1 = self._mark()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        if self._measure_from is not None:
            # The warm-up (connections opening, all users starting at once) is not judged.
            while (remaining := self._measure_from - loop.time()) > 0:
                await asyncio.sleep(remaining)
            self._cpu0, self._wall0, self._wait0 = self._mark()
        cpu, wall = self._cpu_time(), self._wall_time()
        while True:
            due = loop.time() + self._interval
            await asyncio.sleep(self._interval)
            self._lags.append(max(0.0, loop.time() - due))
            cpu_now, wall_now = self._cpu_time(), self._wall_time()
            if wall_now > wall:
                self._cpu_shares.append((cpu_now - cpu) / (wall_now - wall))
            cpu, wall = cpu_now, wall_now

    def report(self) -> Health:
        """CPU share over the whole monitored span, its peak per interval, and the lag."""
        now = self._mark()
        cpu1 = now[0] if self._cpu1 is None else self._cpu1
        wall1 = now[1] if self._wall1 is None else self._wall1
        wait1 = now[2] if self._wait1 is None else self._wait1
        span = wall1 - self._wall0
        lags = sorted(self._lags)
        return Health(
            cpu=(cpu1 - self._cpu0) / span if span > 0 else 0.0,
            cpu_wait=(wait1 - self._wait0) / span if span > 0 else 0.0,
            cpu_peak=max(self._cpu_shares, default=0.0),
            lag_p99=percentile(lags, 99) if lags else 0.0,
            lag_max=lags[-1] if lags else 0.0,
            samples=len(lags),
            pid=self._pid,
        )


def health_warnings(reports: list[Health]) -> list[str]:
    """Warnings for generator processes that were (probably) the bottleneck."""
    warnings = []
    for index, health in enumerate(reports):
        who = "the load generator" if len(reports) == 1 else f"generator process {index + 1}"
        if health.cpu_demand > CPU_WARN:
            waited = f", and waited {health.cpu_wait:.0%} for one" if health.cpu_wait > 0.05 else ""
            warnings.append(
                f"{who} used {health.cpu:.0%} of a core{waited}: it, not the target, may be "
                "the bottleneck (spread the load with --workers, or free the machine)"
            )
        if health.lag_p99 > LAG_WARN:
            warnings.append(
                f"{who}'s event loop lagged {health.lag_p99 * 1000:.1f} ms at p99 (busy, or "
                "starved of CPU): that delay is inside the latencies measured"
            )
    return warnings


def generator_bottleneck(reports: list[Health]) -> list[str]:
    """Why the generator itself was the bottleneck of a level, or nothing.

    The rule: a generator process that wanted at least `CPU_SUSPECT` of a core (CPU used plus
    time spent runnable but waiting for a CPU) had no headroom left, and one whose event loop
    lagged more than `LAG_WARN` at p99 delayed every request it handled. Either way the
    latencies include the generator's own queueing: the level is suspect, not "ok".
    """
    reasons = []
    for index, health in enumerate(reports):
        who = "the load generator" if len(reports) == 1 else f"generator process {index + 1}"
        if health.cpu_demand >= CPU_SUSPECT:
            reasons.append(
                f"{who} wanted {health.cpu_demand:.0%} of a core (limit {CPU_SUSPECT:.0%}); "
                "add --workers"
            )
        if health.lag_p99 > LAG_WARN:
            reasons.append(
                f"{who}'s event loop lagged {health.lag_p99 * 1000:.1f} ms at p99 (limit "
                f"{LAG_WARN * 1000:g} ms); add --workers"
            )
    return reasons

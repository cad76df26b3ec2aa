"""A load sweep: one level after another, each judged before it is reported.

For every level the raw samples become `LevelStats`; the generator's own health and, in the
open model, how well it kept to the schedule decide whether the level is a valid result. An
open-model level where the generator fell behind (too many late sends, a large send lag, or
arrivals dropped at the in-flight cap) is marked invalid: its latencies include the
generator's delay, so they are kept in the JSON for diagnosis but not presented as results.
In either model, a level where a generator process had no CPU headroom or a lagging event
loop (`generator_bottleneck`) is marked suspect: its figures are shown, but never as "ok".

The sweep stops early when a level fails completely (going further would only repeat the
failure) or when asked to stop (Ctrl-C); what was measured so far is returned either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from ._health import Health, generator_bottleneck, health_warnings
from ._load import LevelJob, LevelRun, Phase
from ._schedule import LATE_AFTER, PaceStats
from ._senders import open_target
from ._stats import LevelStats, Slo, level_stats, percentile
from ._targets import Reply, TargetSpec
from ._workers import WorkerPool, run_local

__all__ = [
    "LevelResult",
    "ScheduleSummary",
    "SweepConfig",
    "SweepResult",
    "evaluate",
    "preflight",
    "run_sweep",
]

# The generator fell behind when its p99 send lag exceeds the larger of LAG_FLOOR and
# LAG_SHARE of the target's own p99 (service time, from the actual send), or LAG_CAP in any
# case: then the lag, not the target, shapes the tail of latencies measured from the schedule.
# A few milliseconds of lag are normal on a shared machine; they only matter next to a fast
# target.
LAG_FLOOR = 0.002
LAG_SHARE = 0.10
LAG_CAP = 0.100


def lag_limit(service_p99: float | None) -> float:
    """The p99 send lag beyond which an open-model level is invalid."""
    relative = LAG_SHARE * service_p99 if service_p99 is not None else 0.0
    return min(LAG_CAP, max(LAG_FLOOR, relative))


@dataclass(frozen=True, slots=True)
class SweepConfig:
    """What to run: the load model, its levels, their timing, and the target."""

    model: str  # "closed" (levels are users) or "open" (levels are requests per second)
    levels: tuple[float, ...]
    phase: Phase
    target: TargetSpec
    arrival: str = "constant"
    workers: int = 1
    max_in_flight: int = 10_000
    slo: Slo | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in ("closed", "open"):
            raise ValueError(f"model must be 'closed' or 'open', got {self.model!r}")
        if not self.levels:
            raise ValueError("give at least one level")
        for level in self.levels:
            if not (level > 0 and math.isfinite(level)):
                raise ValueError(f"every level must be a finite number > 0, got {level!r}")
            if self.model == "closed" and level != int(level):
                raise ValueError(f"concurrency levels are whole numbers of users, got {level!r}")


@dataclass(frozen=True, slots=True)
class ScheduleSummary:
    """Open model: how the sends kept to the schedule in the measurement window."""

    target_rate: float
    send_rate: float
    scheduled: int
    sent: int
    dropped: int
    late: int
    late_share: float
    lag_p50: float
    lag_p99: float
    lag_max: float


@dataclass(frozen=True, slots=True)
class LevelResult:
    """One level, measured and judged.

    ``status``: ``"invalid"`` (the figures are not a result: see ``invalid_reasons``),
    ``"suspect"`` (the generator was the bottleneck: see ``suspect_reasons``), else ``"ok"``.
    """

    level: float
    stats: LevelStats
    schedule: ScheduleSummary | None
    health: tuple[Health, ...]
    valid: bool
    invalid_reasons: tuple[str, ...] = ()
    suspect_reasons: tuple[str, ...] = ()
    status: str = "ok"
    warnings: tuple[str, ...] = ()
    interrupted: bool = False
    abandoned: int = 0


@dataclass(slots=True)
class SweepResult:
    """Every level measured, and why the sweep ended early if it did."""

    levels: list[LevelResult] = field(default_factory=list)
    interrupted: bool = False
    stopped_early: str | None = None


def _schedule(rate: float, pace: PaceStats, window: float) -> ScheduleSummary:
    lags = sorted(pace.lags)
    return ScheduleSummary(
        target_rate=rate,
        send_rate=pace.sent / window,
        scheduled=pace.scheduled,
        sent=pace.sent,
        dropped=pace.dropped,
        late=pace.late,
        late_share=pace.late / pace.sent if pace.sent else 0.0,
        lag_p50=percentile(lags, 50) if lags else 0.0,
        lag_p99=percentile(lags, 99) if lags else 0.0,
        lag_max=lags[-1] if lags else 0.0,
    )


def evaluate(level: float, run: LevelRun, config: SweepConfig) -> LevelResult:
    """Statistics of ``run`` plus the verdict: valid, or invalid and why; warnings."""
    stats = level_stats(run.samples, run.window, stream=config.target.stream, slo=config.slo)
    schedule = None if run.pace is None else _schedule(level, run.pace, run.window)
    reasons = []
    if schedule is not None:
        service = stats.service_time.p99 if stats.service_time is not None else None
        limit = lag_limit(service)
        if schedule.lag_p99 > limit:
            reasons.append(
                f"the generator fell behind: p99 send lag {schedule.lag_p99 * 1000:.1f} ms "
                f"(limit {limit * 1000:.1f} ms here); {schedule.late_share:.1%} of sends went "
                f"out more than {LATE_AFTER * 1000:g} ms late; add --workers"
            )
        if schedule.dropped:
            reasons.append(
                f"{schedule.dropped} arrivals dropped at the in-flight cap "
                f"({config.max_in_flight}); raise --max-in-flight or lower the rate"
            )
    if not stats.requests:
        reasons.append("no request started in the measurement window")
    suspect = generator_bottleneck(list(run.health))
    warnings = health_warnings(list(run.health))
    if run.interrupted:
        warnings.append("interrupted: this level covers only the time before the stop")
    return LevelResult(
        level=level,
        stats=stats,
        schedule=schedule,
        health=tuple(run.health),
        valid=not reasons,
        invalid_reasons=tuple(reasons),
        suspect_reasons=tuple(suspect),
        status="invalid" if reasons else "suspect" if suspect else "ok",
        warnings=tuple(warnings),
        interrupted=run.interrupted,
        abandoned=run.abandoned,
    )


async def preflight(spec: TargetSpec) -> Reply:
    """One request to see whether the target answers at all (before any load)."""
    loop = asyncio.get_running_loop()
    async with open_target(spec, clock=loop.time) as send:
        async with asyncio.timeout(spec.timeout + 1.0):  # the target's own bound, plus margin
            return await send()


Launch = Callable[[LevelJob], Awaitable[LevelRun]]


@contextlib.asynccontextmanager
async def _runner(config: SweepConfig, stop: Callable[[], bool]) -> AsyncIterator[Launch]:
    """A way to run one level: in this process, or split over a pool of processes."""
    if config.workers > 1:
        async with WorkerPool(config.workers) as pool:

            async def in_pool(job: LevelJob) -> LevelRun:
                task = asyncio.ensure_future(pool.run_level(config.target, job))
                try:
                    while not task.done():
                        if stop():
                            pool.request_stop()  # the workers end the level and report
                        await asyncio.wait({task}, timeout=0.1)
                finally:
                    if not task.done():
                        pool.request_stop()
                        task.cancel()
                return task.result()

            yield in_pool
        return
    loop = asyncio.get_running_loop()
    async with open_target(config.target, clock=loop.time) as send:

        async def here(job: LevelJob) -> LevelRun:
            return await run_local(config.target, job, send=send, stop=stop)

        yield here


async def run_sweep(
    config: SweepConfig,
    *,
    stop: Callable[[], bool] = lambda: False,
    on_start: Callable[[int, float], None] | None = None,
    on_level: Callable[[LevelResult], None] | None = None,
    result: SweepResult | None = None,
) -> SweepResult:
    """Run every level of ``config`` in order; stop early on total failure or on request.

    ``on_start(index, level)`` and ``on_level(result)`` report progress; levels are appended
    to ``result`` (a new one by default) as they finish, so a caller holding it keeps them
    even if the sweep is cancelled.
    """
    result = SweepResult() if result is None else result
    async with _runner(config, stop) as launch:
        for index, level in enumerate(config.levels):
            if stop():
                result.interrupted = True
                break
            job = LevelJob(
                model=config.model,
                level=level,
                phase=config.phase,
                arrival=config.arrival,
                seed=config.seed + index,
                max_in_flight=config.max_in_flight,
            )
            if on_start is not None:
                on_start(index, level)
            run = await launch(job)
            judged = evaluate(level, run, config)
            result.levels.append(judged)
            if on_level is not None:
                on_level(judged)
            if run.interrupted:
                result.interrupted = True
                break
            if judged.stats.requests and not judged.stats.successes:
                failures = ", ".join(f"{n} {c}" for c, n in judged.stats.failures.items())
                result.stopped_early = (
                    f"every request at level {level:g} failed ({failures}); "
                    "the remaining levels were not run"
                )
                break
    return result

"""The open model's arrival schedule, and the pacer that sends on it.

Arrival instants are absolute offsets from the start of a level, computed up front from the
rate alone (constant spacing, or exponential gaps for a Poisson process): they never depend
on how fast the target answers. The pacer sleeps *until* each instant (never "for a gap", so
drift cannot accumulate) and hands the scheduled instant to the sender, which measures latency
from it. When the pacer wakes late, the send is late: it counts how many sends were late by
more than `LATE_AFTER` and keeps every lag, so a generator that fell behind is detected.

Clock and sleep are injected, so all of this runs on virtual time in tests.

    offsets = plan_offsets(arrivals(100.0, "poisson", seed=1), warmup=1, duration=10)
    stats = await pace(offsets, t0, fire, clock=loop.time, sleep=asyncio.sleep)
"""

from __future__ import annotations

import itertools
import random
from array import array
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .._clock import Reader

__all__ = ["ARRIVALS", "LATE_AFTER", "PaceStats", "arrivals", "pace", "plan_offsets"]

ARRIVALS = ("constant", "poisson")
LATE_AFTER = 0.002  # a send more than 2 ms behind its scheduled instant counts as late
_MAX_NAP = 0.25  # longest single sleep, so a stop request is noticed quickly


def arrivals(
    rate: float, kind: str = "constant", *, seed: int = 0, phase: float = 0.0
) -> Iterator[float]:
    """Endless arrival offsets (seconds) at ``rate`` per second, starting at ``phase``.

    ``constant``: ``phase + k / rate``. ``poisson``: exponential gaps of mean ``1 / rate``
    from a generator seeded with ``seed`` (the first arrival one gap after ``phase``).
    """
    if not rate > 0:
        raise ValueError(f"rate must be > 0 per second, got {rate!r}")
    if kind == "constant":
        return (phase + k / rate for k in itertools.count())
    if kind == "poisson":
        return _poisson(rate, random.Random(seed), phase)
    raise ValueError(f"arrival kind must be one of {', '.join(ARRIVALS)}, got {kind!r}")


def _poisson(rate: float, rng: random.Random, t: float) -> Iterator[float]:
    while True:
        t += rng.expovariate(rate)
        yield t


def plan_offsets(
    offsets: Iterable[float],
    *,
    warmup: float,
    duration: float | None = None,
    requests: int | None = None,
    max_time: float | None = None,
) -> Iterator[float]:
    """The arrivals of one level: all of the warm-up, then the measured part.

    The measured part ends at ``warmup + duration``, after ``requests`` measured arrivals, or
    at ``warmup + max_time``, whichever comes first.
    """
    measured = 0
    for t in offsets:
        if t >= warmup:
            if duration is not None and t >= warmup + duration:
                return
            if max_time is not None and t >= warmup + max_time:
                return
            if requests is not None and measured >= requests:
                return
            measured += 1
        yield t


@dataclass(slots=True)
class PaceStats:
    """How well the sends kept to the schedule (for sends due in the measurement window)."""

    scheduled: int = 0
    sent: int = 0
    dropped: int = 0
    late: int = 0
    lags: array[float] = field(default_factory=lambda: array("d"))

    def extend(self, other: PaceStats) -> None:
        self.scheduled += other.scheduled
        self.sent += other.sent
        self.dropped += other.dropped
        self.late += other.late
        self.lags.extend(other.lags)


async def pace(
    offsets: Iterable[float],
    t0: float,
    fire: Callable[[float], bool],
    *,
    clock: Reader,
    sleep: Callable[[float], Awaitable[object]],
    stop: Callable[[], bool] = lambda: False,
    measure_from: float | None = None,
    late_after: float = LATE_AFTER,
) -> PaceStats:
    """Call ``fire(due)`` at each ``t0 + offset``; return how late the calls were.

    ``fire`` starts a request scheduled at ``due`` (without waiting for it) and returns False
    when it could not (an in-flight cap): that arrival counts as dropped. Only arrivals due at
    or after ``measure_from`` (default ``t0``) are counted in the returned statistics.
    """
    stats = PaceStats()
    start_measuring = t0 if measure_from is None else measure_from
    for offset in offsets:
        due = t0 + offset
        while not stop():
            remaining = due - clock()
            if remaining <= 0:
                break
            await sleep(min(remaining, _MAX_NAP))
        if stop():
            break
        lag = max(0.0, clock() - due)
        sent = fire(due)
        if due < start_measuring:
            continue
        stats.scheduled += 1
        if not sent:
            stats.dropped += 1
            continue
        stats.sent += 1
        stats.lags.append(lag)
        if lag > late_after:
            stats.late += 1
    return stats

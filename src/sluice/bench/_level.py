"""What every load level shares: its timing (`Phase`), its raw outcome (`LevelRun`), and the
supervision that bounds it (stragglers cancelled after the timeout, or ``grace`` seconds after
a stop request). The runners themselves are in `_load`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .._clock import Reader
from ._samples import SampleSet
from ._schedule import PaceStats
from ._targets import Reply

__all__ = [
    "POLL",
    "LevelRun",
    "Phase",
    "Sleep",
    "Supervision",
    "never",
    "record",
    "supervise",
    "wait_until",
    "window_of",
]

Sleep = Callable[[float], Awaitable[object]]
POLL = 0.1  # how often a waiting runner looks at the stop flag


def never() -> bool:
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


async def wait_until(when: float | None, clock: Reader, sleep: Sleep) -> float:
    if when is not None:
        while (remaining := when - clock()) > 0:
            await sleep(remaining)
        return when
    return clock()


@dataclass(slots=True)
class Supervision:
    interrupted: bool = False
    stopped_at: float | None = None
    abandoned: int = 0


async def supervise(
    tasks: set[asyncio.Task[None]],
    *,
    clock: Reader,
    stop: Callable[[], bool],
    hard_end: float,
    grace: float,
) -> Supervision:
    """Wait for ``tasks``; after a stop request or at ``hard_end``, cancel the stragglers."""
    state = Supervision()
    cut_at = hard_end
    try:
        while tasks:
            if stop() and not state.interrupted:
                state.interrupted, state.stopped_at = True, clock()
                cut_at = min(cut_at, clock() + grace)
            if clock() >= cut_at:
                break
            done, _ = await asyncio.wait(tasks, timeout=min(POLL, cut_at - clock()))
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


def window_of(
    phase: Phase, measure_from: float, samples: SampleSet, state: Supervision, clock: Reader
) -> float:
    if phase.duration is not None:
        end = measure_from + phase.duration
    else:
        end = max(samples.end, default=clock())
    if state.stopped_at is not None:
        end = min(end, state.stopped_at)
    return max(end - measure_from, 1e-9)

"""Statistics snapshots: frozen, typed, cheap to take.

`Gate.statistics()` returns a `GateStatistics`; nothing private needs to be read by callers.
Latency percentiles come from a ring of the most recent successful calls (nearest-rank
definition), so recording costs one store and a snapshot sorts at most `LATENCY_RING` numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ._core.state import SharedStatistics
from .policies.adaptive import AdaptiveStatistics
from .policies.breaker import BreakerStateName, BreakerStatistics
from .policies.cache import CacheStatistics
from .policies.rate import RateStatistics

__all__ = [
    "LATENCY_RING",
    "GateStatistics",
    "LatencySummary",
    "SharedStatistics",
    "latency_summary",
    "percentile",
]


# A float product like 99.9 * 1000 / 100 can land a hair above the integer it stands for.
_RANK_EPSILON = 1e-9


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (0 <= q <= 100) of an ascending, non-empty sequence: the
    sample at rank ``ceil(q / 100 * n)``, the smallest value with at least ``q`` percent of the
    samples at or below it."""
    if not ordered:
        raise ValueError("percentile() of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in [0, 100], got {q!r}")
    rank = max(1, math.ceil(q * len(ordered) / 100 - _RANK_EPSILON))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latency of successful calls, in seconds. Percentiles cover the last ``window`` calls;
    ``count``, ``mean`` and ``max`` cover all of them. Values are ``None`` before any call."""

    count: int
    window: int
    mean: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


LATENCY_RING = 1024
"""How many recent latencies a gate keeps for its percentiles (a power of two: the ring's index
is a mask of the count)."""


def latency_summary(ring: Sequence[float], count: int, total: float, peak: float) -> LatencySummary:
    """The summary of ``count`` latencies summing to ``total``, the largest ``peak``, whose
    most recent ones fill the first ``min(count, len(ring))`` slots of ``ring``."""
    ordered = sorted(ring[: min(count, len(ring))])
    if not ordered:
        return LatencySummary(0, 0, None, None, None, None, None)
    return LatencySummary(
        count=count,
        window=len(ordered),
        mean=total / count,
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
        max=peak,
    )


@dataclass(frozen=True, slots=True)
class GateStatistics:
    """A snapshot of a gate.

    ``active`` counts calls inside `Gate.run` (waiting, sleeping between attempts or running);
    ``in_flight`` counts attempts running right now; ``waiting`` those queued for a permit.
    ``rejected`` maps a reason (``"circuit_open"``, ``"queue_full"``, ``"max_wait"``,
    ``"closed"``) to a count. ``timeouts`` counts attempt and deadline timeouts.
    ``paused_for`` is what remains of a gate-wide pause (see `Gate.pause`; one an upstream's
    Retry-After sets is capped at the retry policy's ``max_retry_after``).
    ``hedges`` counts extra attempts started by hedging, ``hedge_wins`` those that answered
    first; ``fallbacks`` counts failed calls answered by the fallback instead (they are also
    counted in ``failed``). ``cache`` is the cache's snapshot, when the gate has one;
    ``adaptive`` the adaptive limit's (its history of changes, with their reasons); ``shared``
    the shared state's, for a gate whose limits are shared through a store.
    """

    name: str
    calls_started: int
    succeeded: int
    failed: int
    cancelled: int
    rejected: Mapping[str, int]
    retried: int
    timeouts: int
    active: int
    in_flight: int
    waiting: int
    concurrency_limit: int | None
    breaker: BreakerStatistics | None
    rate: RateStatistics | None
    latency: LatencySummary
    paused_for: float = 0.0
    hedges: int = 0
    hedge_wins: int = 0
    fallbacks: int = 0
    cache: CacheStatistics | None = None
    adaptive: AdaptiveStatistics | None = None
    shared: SharedStatistics | None = None

    @property
    def breaker_state(self) -> BreakerStateName | None:
        return None if self.breaker is None else self.breaker.state

    @property
    def rate_delay(self) -> float:
        """Seconds a new call would wait for the rate limiter now, token debt included (0
        without one)."""
        return 0.0 if self.rate is None else self.rate.delay

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

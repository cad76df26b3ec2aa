"""Hedging: when an attempt is slow to answer, start another and take whichever wins.

After ``after`` seconds without a reply (a fixed delay, or ``"p95"``: the gate's rolling 95th
percentile of attempt latency) a second attempt starts; up to ``max_extra`` extra attempts
start, one per further delay. The first success wins and the others are cancelled; a cancelled
loser never counts as a breaker failure. Extra attempts are capped at ``budget`` (a fraction) of
recent calls, so hedging trims the latency tail without multiplying load. Hedge only calls that
are safe to run twice.

    gate = Gate(hedge=Hedge(after="p95", max_extra=1, budget=0.05))

`HedgeDelay` computes the ``"p95"`` delay from recent attempt latencies, refreshing it every
few samples rather than sorting on every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._errors import ConfigError
from .._stats import percentile
from .._validate import check_fraction, check_int_at_least, check_positive

__all__ = ["Hedge", "HedgeDelay"]

_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}


@dataclass(frozen=True, slots=True)
class Hedge:
    """Hedging settings.

    after:
        seconds to wait before an extra attempt, or a percentile of recent attempt latency:
        ``"p50"``, ``"p90"``, ``"p95"`` or ``"p99"``.
    max_extra:
        extra attempts per call at most.
    budget:
        extra attempts may be at most this fraction of recent calls (0 < budget <= 1).
    min_samples:
        with a percentile delay, how many attempt latencies must be known before hedging starts.
    """

    after: float | Literal["p50", "p90", "p95", "p99"] = "p95"
    max_extra: int = 1
    budget: float = 0.05
    min_samples: int = 20

    def __post_init__(self) -> None:
        if isinstance(self.after, str):
            if self.after not in _PERCENTILES:
                raise ConfigError(
                    "Hedge(after=...) must be a number of seconds or one of "
                    f"{', '.join(map(repr, _PERCENTILES))}, got {self.after!r}"
                )
        else:
            object.__setattr__(self, "after", check_positive("Hedge", "after", self.after))
        check_int_at_least("Hedge", "max_extra", self.max_extra, 1)
        check_fraction("Hedge", "budget", self.budget)
        check_int_at_least("Hedge", "min_samples", self.min_samples, 1)


class HedgeDelay:
    """The current hedge delay: fixed, or a percentile of the recent attempt latencies."""

    __slots__ = ("_count", "_delay", "_fixed", "_min_samples", "_q", "_ring", "_size", "_stale")

    # Recompute the percentile after this many new samples: sorting a ring of 512 numbers on
    # every call would cost more than the attempts it speeds up.
    REFRESH_EVERY = 32

    def __init__(self, hedge: Hedge, size: int = 512) -> None:
        self._fixed = hedge.after if not isinstance(hedge.after, str) else None
        self._q = _PERCENTILES.get(hedge.after, 95.0) if isinstance(hedge.after, str) else 95.0
        self._min_samples = hedge.min_samples
        self._size = size
        self._ring: list[float] = []
        self._count = 0
        self._stale = 0
        self._delay: float | None = None

    def record(self, latency: float) -> None:
        """Note the latency of a successful attempt."""
        if self._fixed is not None:
            return
        ring = self._ring
        if len(ring) < self._size:
            ring.append(latency)
        else:
            ring[self._count % self._size] = latency
        self._count += 1
        self._stale += 1

    def current(self) -> float | None:
        """Seconds to wait before hedging, or ``None`` when too little is known yet."""
        if self._fixed is not None:
            return self._fixed
        if len(self._ring) < self._min_samples:
            return None
        if self._delay is None or self._stale >= self.REFRESH_EVERY:
            self._delay = percentile(sorted(self._ring), self._q)
            self._stale = 0
        return self._delay

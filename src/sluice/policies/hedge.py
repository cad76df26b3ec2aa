"""Hedging: when an attempt is slow to answer, start another and take whichever wins.

After ``after`` seconds without a reply (a fixed delay, or ``"p95"``: the gate's rolling 95th
percentile of attempt latency) a second attempt starts; up to ``max_extra`` extra attempts
start, one per further delay. The first success wins and the others are cancelled; a cancelled
loser never counts as a breaker failure. Extra attempts are capped at ``budget`` (a fraction) of
recent calls, so hedging trims the latency tail without multiplying load. Hedge only calls that
are safe to run twice.

    gate = Gate(hedge=Hedge(after="p95", max_extra=1, budget=0.05))

The delay itself is computed by `sluice._stages.hedge_delay.HedgeDelay`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._errors import ConfigError
from .._validate import check_fraction, check_int_at_least, check_positive

__all__ = ["PERCENTILES", "Hedge"]

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}


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
            if self.after not in PERCENTILES:
                raise ConfigError(
                    "Hedge(after=...) must be a number of seconds or one of "
                    f"{', '.join(map(repr, PERCENTILES))}, got {self.after!r}"
                )
        else:
            object.__setattr__(self, "after", check_positive("Hedge", "after", self.after))
        check_int_at_least("Hedge", "max_extra", self.max_extra, 1)
        check_fraction("Hedge", "budget", self.budget)
        check_int_at_least("Hedge", "min_samples", self.min_samples, 1)

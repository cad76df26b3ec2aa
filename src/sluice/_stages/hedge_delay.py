"""The hedge delay: fixed, or a percentile of recent attempt latencies, learned as a stage.

`HedgeDelay` keeps a ring of the latencies of successful attempts and recomputes the
percentile every few samples rather than sorting on every call. As a stage it only learns:
``after`` records each successful attempt's latency (from the moment it was issued).

    delay = HedgeDelay(Hedge(after="p95", min_samples=20))
    delay.record(0.8)
    delay.current()          # None until 20 samples are known
"""

from __future__ import annotations

from .._core.call import Call
from .._stats import percentile
from ..policies.hedge import PERCENTILES, Hedge

__all__ = ["HedgeDelay"]


class HedgeDelay:
    """The current hedge delay: fixed, or a percentile of the recent attempt latencies."""

    __slots__ = ("_count", "_delay", "_fixed", "_min_samples", "_q", "_ring", "_size", "_stale")

    # Recompute the percentile after this many new samples: sorting a ring of 512 numbers on
    # every call would cost more than the attempts it speeds up.
    REFRESH_EVERY = 32

    def __init__(self, hedge: Hedge, size: int = 512) -> None:
        self._fixed = hedge.after if not isinstance(hedge.after, str) else None
        self._q = PERCENTILES.get(hedge.after, 95.0) if isinstance(hedge.after, str) else 95.0
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

    # ------------------------------------------------------------------ the stage
    admits = False
    holds = False
    after_success = True

    def before(self, call: Call, now: float) -> None:
        return None

    def free(self, call: Call) -> None:
        pass

    def after(self, call: Call, now: float) -> None:
        started = call.started
        if call.error is None and started is not None:
            self.record(now - started)

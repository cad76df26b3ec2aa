"""The gauges of a run's progress: rates over the last minute, and the limits the client's
gate applies now, as a short text.

    recent = Recent(started=0.0)
    per_second, tokens_per_minute = recent.rates(now=30.0, finished=120, tokens=48_000)
    limits_text(client.statistics().gate)    # "rpm 500, concurrency 24 (probe up)"
"""

from __future__ import annotations

import collections

from .. import GateStatistics

__all__ = ["Recent", "limits_text"]

WINDOW = 60.0
_SPACING = 1.0  # a sample a second at most: a panel asking often keeps a short history


class Recent:
    """Completions and tokens per unit of time over the last `WINDOW` seconds, from the
    counts taken at each progress snapshot (since the start until a minute has passed)."""

    __slots__ = ("_samples",)

    def __init__(self, started: float) -> None:
        self._samples: collections.deque[tuple[float, int, int]] = collections.deque(
            [(started, 0, 0)], maxlen=int(WINDOW / _SPACING) + 2
        )

    def rates(self, now: float, finished: int, tokens: int) -> tuple[float, float]:
        """(completions per second, tokens per minute) since the oldest sample of the last
        minute; ``finished`` and ``tokens`` are the run's totals at ``now``."""
        samples = self._samples
        if now - samples[-1][0] >= _SPACING:
            samples.append((now, finished, tokens))
        while len(samples) > 1 and samples[1][0] <= now - WINDOW:
            samples.popleft()
        then, finished_then, tokens_then = samples[0]
        elapsed = now - then
        if elapsed <= 0:
            return 0.0, 0.0
        return (finished - finished_then) / elapsed, (tokens - tokens_then) / elapsed * 60


def limits_text(stats: GateStatistics) -> str:
    """The gate's limits now: request and token rates (set or learned from the server's
    headers), the concurrency limit and why the adaptive one last changed, an open breaker, a
    pause the server asked for, limits shared through a store (and whether it is reachable)."""
    parts = []
    rate = stats.rate
    if rate is not None:
        if rate.requests_per_second is not None:
            parts.append(f"rpm {rate.requests_per_second * 60:.0f}")
        if rate.tokens_per_minute is not None:
            parts.append(f"tpm {rate.tokens_per_minute:.0f}")
    if stats.concurrency_limit is not None:
        concurrency = f"concurrency {stats.concurrency_limit}"
        adaptive = stats.adaptive
        if adaptive is not None and adaptive.history:
            concurrency += f" ({adaptive.history[-1].reason})"
        parts.append(concurrency)
    state = stats.breaker_state
    if state is not None and state != "closed":
        parts.append(f"breaker {state}")
    if stats.paused_for > 0:
        parts.append(f"paused {stats.paused_for:.0f} s (server asked)")
    if stats.shared is not None:
        parts.append("shared" if stats.shared.reachable else "shared store unreachable")
    return ", ".join(parts)

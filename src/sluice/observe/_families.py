"""What the gate collector exports: one entry per metric family, read from a snapshot.

Each family names a metric, says whether it is a counter, reads its values from one
`GateStatistics` (with an extra label, or none) and says how gates sharing a name combine.

    for family in FAMILIES:
        for label, value in family.read(gate.statistics()):
            print(family.name, label, value)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .._stats import GateStatistics

__all__ = ["FAMILIES", "LATENCY", "LATENCY_HELP", "Family", "Values"]


Values = Iterable[tuple[str, float | None]]
"""What a family reads of one snapshot: (value of its extra label, or "" without one, value);
a ``None`` value is left out."""


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    help: str
    counter: bool
    read: Callable[[GateStatistics], Values]
    label: str | None = None
    # How the values of several live gates sharing one name are combined.
    merge: Callable[[Iterable[float]], float] = sum


def _one(value: float | None) -> Values:
    return (("", value),)


_BREAKER_STATES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
_REASONS = ("circuit_open", "queue_full", "max_wait", "closed")

FAMILIES = (
    # ---- counters (rendered with a _total suffix)
    Family("sluice_gate_calls_started", "Calls started.", True, lambda s: _one(s.calls_started)),
    Family(
        "sluice_gate_calls",
        "Calls ended, by outcome (failed includes the calls a fallback answered).",
        True,
        lambda s: (("succeeded", s.succeeded), ("failed", s.failed), ("cancelled", s.cancelled)),
        label="outcome",
    ),
    Family(
        "sluice_gate_rejections",
        "Calls refused without running, by reason.",
        True,
        lambda s: {**dict.fromkeys(_REASONS, 0), **s.rejected}.items(),
        label="reason",
    ),
    Family("sluice_gate_retries", "Attempts retried.", True, lambda s: _one(s.retried)),
    Family(
        "sluice_gate_timeouts", "Attempt and deadline timeouts.", True, lambda s: _one(s.timeouts)
    ),
    Family(
        "sluice_gate_fallbacks",
        "Failed calls answered by the fallback.",
        True,
        lambda s: _one(s.fallbacks),
    ),
    Family(
        "sluice_gate_hedges", "Extra attempts started by hedging.", True, lambda s: _one(s.hedges)
    ),
    Family(
        "sluice_gate_hedge_wins",
        "Hedged attempts that answered first.",
        True,
        lambda s: _one(s.hedge_wins),
    ),
    Family(
        "sluice_gate_breaker_opened",
        "Times the circuit breaker opened.",
        True,
        lambda s: _one(None if s.breaker is None else s.breaker.times_opened),
    ),
    Family(
        "sluice_gate_cache_lookups",
        "Calls through the cache, by result.",
        True,
        lambda s: (
            ()
            if s.cache is None
            else (("hit", s.cache.hits), ("miss", s.cache.misses), ("coalesced", s.cache.coalesced))
        ),
        label="result",
    ),
    Family(
        "sluice_gate_cache_store_errors",
        "Cache store failures (each handled as a miss or a skipped write).",
        True,
        lambda s: _one(None if s.cache is None else s.cache.store_errors),
    ),
    Family(
        "sluice_gate_shared_outages",
        "Times the shared state's store stopped answering.",
        True,
        lambda s: _one(None if s.shared is None else s.shared.outages),
    ),
    Family(
        "sluice_gate_shared_degraded_admissions",
        "Attempts admitted on local limits while the shared store was unreachable.",
        True,
        lambda s: _one(None if s.shared is None else s.shared.degraded_admissions),
    ),
    # ---- gauges
    Family(
        "sluice_gate_active_calls", "Calls inside gate.run now.", False, lambda s: _one(s.active)
    ),
    Family(
        "sluice_gate_in_flight_attempts",
        "Attempts running now.",
        False,
        lambda s: _one(s.in_flight),
    ),
    Family(
        "sluice_gate_waiting_calls", "Calls queued for a permit.", False, lambda s: _one(s.waiting)
    ),
    Family(
        "sluice_gate_concurrency_limit",
        "Concurrency limit (absent when unbounded).",
        False,
        lambda s: _one(s.concurrency_limit),
    ),
    Family(
        "sluice_gate_breaker_state",
        "Circuit breaker state: 0 closed, 1 half open, 2 open.",
        False,
        lambda s: _one(None if s.breaker is None else _BREAKER_STATES[s.breaker.state]),
        merge=max,
    ),
    Family(
        "sluice_gate_rate_delay_seconds",
        "Wait a new call would face now for the rate limit.",
        False,
        lambda s: _one(None if s.rate is None else s.rate.delay),
        merge=max,
    ),
    Family(
        "sluice_gate_paused_seconds",
        "What remains of a gate-wide pause.",
        False,
        lambda s: _one(s.paused_for),
        merge=max,
    ),
    Family(
        "sluice_gate_adaptive_limit",
        "Current adaptive concurrency limit.",
        False,
        lambda s: _one(None if s.adaptive is None else s.adaptive.limit),
    ),
    Family(
        "sluice_gate_shared_in_flight",
        "Attempts in flight in every process sharing the gate (as last seen).",
        False,
        lambda s: _one(None if s.shared is None else s.shared.in_flight),
        merge=max,
    ),
    Family(
        "sluice_gate_shared_reachable",
        "1 when the shared state's store answers, else 0.",
        False,
        lambda s: _one(None if s.shared is None else float(s.shared.reachable)),
        merge=min,
    ),
)

LATENCY = "sluice_gate_latency_seconds"
LATENCY_HELP = (
    "Latency of successful calls; quantiles over the most recent calls (at most 1024), "
    "count and sum over all of them."
)

"""Concurrency: at most ``limit`` calls in flight; the rest wait in arrival order, boundedly.

Waiting is bounded twice over, both optional: ``max_queue`` callers may wait (one more is
refused at once) and each waits at most ``max_wait`` seconds. Either overflow raises
`OverloadedError`, a rejection: the upstream never saw the call.

A released permit is handed straight to the oldest waiter, so a newcomer can never overtake
the queue. The limit may change at run time (`set_limit`), which adaptive concurrency uses.

    gate = Gate("llm", concurrency=Concurrency(64, max_queue=1000, max_wait=5.0))
    gate.statistics().waiting                 # calls queued for a permit now

The limiter itself is `sluice._stages.permits.ConcurrencyLimiter`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import ConfigError
from .._validate import check_int_at_least, check_optional_positive

__all__ = ["Concurrency", "ConcurrencyStatistics"]


@dataclass(frozen=True, slots=True)
class Concurrency:
    """A fixed concurrency limit, with optional bounds on waiting.

    Gate(concurrency=64)                                   # shorthand
    Gate(concurrency=Concurrency(64, max_queue=500, max_wait=2.0))
    """

    limit: int
    max_queue: int | None = None
    max_wait: float | None = None

    def __post_init__(self) -> None:
        check_int_at_least("Concurrency", "limit", self.limit, 1)
        if self.max_queue is not None:
            check_int_at_least("Concurrency", "max_queue", self.max_queue, 0)
        wait = check_optional_positive("Concurrency", "max_wait", self.max_wait)
        object.__setattr__(self, "max_wait", wait)

    @classmethod
    def coerce(cls, value: Concurrency | int | None) -> Concurrency | None:
        """Accept the ``concurrency=`` shorthand: an int is the limit, ``None`` means unbounded."""
        if value is None or isinstance(value, Concurrency):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        raise ConfigError(
            "Gate(concurrency=...) must be an int >= 1, a sluice.Concurrency or None "
            f"(unbounded), got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class ConcurrencyStatistics:
    """Snapshot of a concurrency limiter."""

    limit: int
    in_flight: int
    waiting: int

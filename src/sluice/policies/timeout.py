"""Timeouts and deadline propagation.

`Timeout(attempt=..., total=...)`: ``attempt`` bounds each try of the call, ``total`` bounds the
whole run (every attempt, every backoff sleep, every wait for a permit or a rate slot).

The total budget is stored as an absolute deadline in a `ContextVar`, so a gate called inside
another gate's call sees the outer deadline and never waits past it; your own code can read it
too, to pass the remaining time to an SDK or a peer::

    async with asyncio.timeout(sluice.time_remaining()):   # None means "no deadline"
        await sdk_call()

Deadlines are expressed on the gate's clock, which by default is the event loop's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._core.deadline import current_deadline, time_remaining
from .._errors import ConfigError
from .._validate import check_optional_positive

__all__ = ["Timeout", "current_deadline", "time_remaining"]


@dataclass(frozen=True, slots=True)
class Timeout:
    """Time limits for one attempt and for the whole run (seconds; ``None`` = no limit).

    Timeout(attempt=30.0)                 # each try gets 30 s
    Timeout(attempt=10.0, total=25.0)     # tries of 10 s, but 25 s for everything
    Gate(timeout=30.0)                    # shorthand for Timeout(attempt=30.0)
    """

    attempt: float | None = None
    total: float | None = None

    def __post_init__(self) -> None:
        attempt = check_optional_positive("Timeout", "attempt", self.attempt)
        object.__setattr__(self, "attempt", attempt)
        object.__setattr__(self, "total", check_optional_positive("Timeout", "total", self.total))

    @classmethod
    def coerce(cls, value: Timeout | float | None, owner: str = "Gate") -> Timeout | None:
        """Accept the ``timeout=`` shorthand: a number means ``Timeout(attempt=number)``.
        ``owner`` names what was given the value, in the error."""
        if value is None or isinstance(value, Timeout):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return cls(attempt=value)
        raise ConfigError(
            f"{owner}(timeout=...) must be a number of seconds, a sluice.Timeout or None, "
            f"got {value!r}"
        )

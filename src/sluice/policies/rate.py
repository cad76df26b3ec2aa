"""Rate limits: how many requests, and how many tokens, per unit of time.

What users see: requests are spaced evenly at the long-run rate with at most ``burst`` back to
back; calls wait their turn in arrival order (a large token reservation is never starved by
small ones); a reservation larger than the whole token bucket is admitted once the bucket is
full rather than never, and counts for at most a minute of ``tpm`` (or the bucket, if larger),
so one absurd estimate cannot hold the gate for longer; estimates are settled with real usage
afterwards, and given back when the upstream refused the call before processing it.

    gate = Gate("llm", rate=Rate(rpm=600, burst=10, tpm=90_000))
    await gate.run(complete, prompt, tokens=1200)       # reserves 1,200, settles with usage
    gate.statistics().rate.delay                        # the wait a new call would face now

The limiter itself, GCRA and how it gives those guarantees, is
`sluice._stages.rate.RateLimiter`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import ConfigError
from .._validate import check_int_at_least, check_optional_positive, check_positive

__all__ = ["Rate", "RateStatistics"]


@dataclass(frozen=True, slots=True)
class Rate:
    """Request and token rates. Give ``rps`` or ``rpm`` (not both), and/or ``tpm``.

    burst:
        requests that may start back to back after an idle period (1 = evenly spaced).
    token_burst:
        tokens that may be spent back to back; default: one second's worth of ``tpm``.
    """

    rps: float | None = None
    rpm: float | None = None
    tpm: float | None = None
    burst: int = 1
    token_burst: float | None = None

    def __post_init__(self) -> None:
        rps = check_optional_positive("Rate", "rps", self.rps)
        rpm = check_optional_positive("Rate", "rpm", self.rpm)
        tpm = check_optional_positive("Rate", "tpm", self.tpm)
        if rps is not None and rpm is not None:
            raise ConfigError("Rate(rps=..., rpm=...): give one of them, not both")
        if rps is None and rpm is None and tpm is None:
            raise ConfigError("Rate() needs at least one of rps=, rpm= or tpm=")
        object.__setattr__(self, "rps", rps)
        object.__setattr__(self, "rpm", rpm)
        object.__setattr__(self, "tpm", tpm)
        check_int_at_least("Rate", "burst", self.burst, 1)
        if self.token_burst is not None:
            if tpm is None:
                raise ConfigError("Rate(token_burst=...) only makes sense with tpm=")
            burst = check_positive("Rate", "token_burst", self.token_burst)
            object.__setattr__(self, "token_burst", burst)

    @property
    def requests_per_second(self) -> float | None:
        if self.rps is not None:
            return self.rps
        return None if self.rpm is None else self.rpm / 60.0

    @property
    def token_capacity(self) -> float | None:
        if self.tpm is None:
            return None
        return self.token_burst if self.token_burst is not None else self.tpm / 60.0


@dataclass(frozen=True, slots=True)
class RateStatistics:
    """Snapshot of a rate limiter: current rates (configured or learned) and ``delay``, the
    wait a new call would face now for its request slot, or for a token debt to be paid."""

    requests_per_second: float | None
    tokens_per_minute: float | None
    delay: float

"""Retry budget: retries may add at most a fraction of recent traffic, plus a small floor.

Per-call retry limits multiply load during an outage (every caller retries *n* times, at every
layer). A budget shared by the whole gate caps retries at ``percent`` of the calls seen over
the last ``ttl`` seconds, plus ``min_per_second * ttl`` so a quiet client can still retry.
When the budget is empty a failed call is not retried: the error is raised at once.

    gate = Gate("llm", retry=Retry(attempts=4, budget=RetryBudget(percent=0.1)))
    gate = Gate("llm", retry=Retry(attempts=4, budget=None))   # no budget: every retry allowed

The balance itself is kept by `sluice._stages.budget.RetryBudgetState`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import ConfigError
from .._validate import check_non_negative, check_positive

__all__ = ["RetryBudget"]


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """Retries allowed: ``percent`` (a fraction, 0 to 1) of calls in the last ``ttl`` s, plus
    ``min_per_second``.

    Defaults follow long-lived practice in RPC stacks: 20 % of traffic, 10 retries per second
    of floor, a 10 s memory.
    """

    percent: float = 0.2
    min_per_second: float = 10.0
    ttl: float = 10.0

    def __post_init__(self) -> None:
        percent = check_non_negative("RetryBudget", "percent", self.percent)
        if percent > 1.0:
            # A share above all of the traffic is almost always a percentage typed as one.
            raise ConfigError(
                f"RetryBudget(percent=...) is a fraction of recent calls between 0 and 1 "
                f"(0.2 means 20 %), got {self.percent!r}: for {self.percent!r} % pass "
                f"percent={percent / 100:g}"
            )
        object.__setattr__(self, "percent", percent)
        floor = check_non_negative("RetryBudget", "min_per_second", self.min_per_second)
        object.__setattr__(self, "min_per_second", floor)
        ttl = check_positive("RetryBudget", "ttl", self.ttl)
        if not 1.0 <= ttl <= 60.0:
            raise ConfigError(f"RetryBudget(ttl=...) must be between 1 and 60 seconds, got {ttl!r}")
        object.__setattr__(self, "ttl", ttl)

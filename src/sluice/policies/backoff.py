"""Backoff: how long to sleep before retry number *n*.

The raw delay grows geometrically, ``base * multiplier ** (n - 1)``, and is capped *before*
jitter is applied, so a saturated backoff still spreads clients out instead of bringing them
all back at ``cap`` together.

    Backoff.exponential(base=0.5, cap=8.0, jitter="full")   # uniform(0, min(8, 0.5 * 2**(n-1)))
    Backoff.constant(2.0)                                  # always 2 s
    Backoff.constant(1.0, jitter="equal")                  # uniform(0.5, 1.0)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from .._errors import ConfigError
from .._validate import check_non_negative

__all__ = ["JITTER_KINDS", "Backoff"]

JitterKind = Literal["full", "equal", "none"]
JITTER_KINDS: tuple[str, ...] = ("full", "equal", "none")


@dataclass(frozen=True, slots=True)
class Backoff:
    """A capped geometric delay with jitter. Build one with `exponential` or `constant`.

    jitter:
        ``"full"``  uniform(0, d): spreads retries the most (AWS "full jitter");
        ``"equal"`` uniform(d/2, d): keeps at least half of the delay;
        ``"none"``  exactly d.
    """

    base: float = 0.5
    multiplier: float = 2.0
    cap: float = 8.0
    jitter: JitterKind = "full"

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", check_non_negative("Backoff", "base", self.base))
        object.__setattr__(self, "cap", check_non_negative("Backoff", "cap", self.cap))
        multiplier = check_non_negative("Backoff", "multiplier", self.multiplier)
        if multiplier < 1:
            raise ConfigError(f"Backoff(multiplier=...) must be >= 1, got {self.multiplier!r}")
        object.__setattr__(self, "multiplier", multiplier)
        if self.jitter not in JITTER_KINDS:
            raise ConfigError(
                f"Backoff(jitter=...) must be one of {', '.join(map(repr, JITTER_KINDS))}, "
                f"got {self.jitter!r}"
            )

    @classmethod
    def exponential(
        cls,
        base: float = 0.5,
        cap: float = 8.0,
        *,
        multiplier: float = 2.0,
        jitter: JitterKind = "full",
    ) -> Backoff:
        """``base * multiplier ** (n - 1)`` capped at ``cap``, then jittered."""
        return cls(base=base, multiplier=multiplier, cap=cap, jitter=jitter)

    @classmethod
    def constant(cls, delay: float, *, jitter: JitterKind = "none") -> Backoff:
        """The same delay before every retry."""
        delay = check_non_negative("Backoff.constant", "delay", delay)
        return cls(base=delay, multiplier=1.0, cap=delay, jitter=jitter)

    def raw(self, retry: int) -> float:
        """Delay before retry ``retry`` (1 = first retry), capped, before jitter."""
        if self.multiplier == 1.0 or self.base == 0.0:
            return min(self.base, self.cap)
        # Compare exponents rather than computing huge powers: multiplier ** 5000 overflows.
        delay = self.base
        for _ in range(retry - 1):
            delay *= self.multiplier
            if delay >= self.cap:
                return self.cap
        return min(delay, self.cap)

    def delay(self, retry: int, rng: random.Random) -> float:
        """Delay before retry ``retry`` with jitter drawn from ``rng``."""
        raw = self.raw(retry)
        if self.jitter == "full":
            return rng.uniform(0.0, raw)
        if self.jitter == "equal":
            return raw / 2 + rng.uniform(0.0, raw / 2)
        return raw

"""The latency model: prefill, decode, jitter and load. Pure: no loop, no clock.

A request admitted at ``start`` emits token ``i`` at an absolute instant::

    deadline(0) = start + ttft
    deadline(i) = deadline(i - 1) + gap(i)        # gap(i) = itl x load x jitter

Deadlines are chained on *scheduled* instants, never on when the previous token actually went
out, so a late emission (a busy loop, a timer overshoot) does not push every later token back:
the stream catches up, and the server reports the lateness instead of hiding it.

    model = LatencyModel(SimConfig(ttft=0.2, itl=0.02), random.Random(0))
    schedule = TokenSchedule(start=10.0, ttft=model.time_to_first_token(50, active=1))
    schedule.deadline        # 10.2, then schedule.advance(model.inter_token(active=1))
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ._config import SimConfig

__all__ = ["Jitter", "LatencyModel", "TokenSchedule"]

# A clamped normal keeps samples within this many standard deviations of the mean, and
# symmetric around it, so clamping does not shift the average.
_NORMAL_CLAMP_SIGMAS = 3.0


@dataclass(frozen=True, slots=True)
class Jitter:
    """A multiplicative noise with mean 1: ``constant``, clamped ``normal`` or ``lognormal``.

    ``cv`` is the coefficient of variation (standard deviation / mean).
    """

    kind: str = "constant"
    cv: float = 0.0

    @property
    def is_constant(self) -> bool:
        return self.kind == "constant" or self.cv == 0

    def sample(self, rng: random.Random, mean: float) -> float:
        """One draw with the given mean; never negative."""
        if self.is_constant or mean <= 0:
            return mean
        if self.kind == "normal":
            spread = min(_NORMAL_CLAMP_SIGMAS * self.cv, 1.0) * mean
            value = rng.gauss(mean, self.cv * mean)
            return min(max(value, mean - spread), mean + spread)
        # Lognormal with the requested mean and CV: sigma^2 = ln(1 + cv^2), mu = ln(m) - s^2/2.
        sigma2 = math.log1p(self.cv * self.cv)
        return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


class LatencyModel:
    """Turns prompt size and current load into TTFT and inter-token gaps.

    ``load(active)`` grows linearly from 1.0 with one active request to ``load_factor`` at
    ``load_batch`` active requests, the way a GPU batch scheduler slows every sequence in the
    batch as the batch fills.
    """

    __slots__ = ("_batch", "_constant_gap", "_extra_load", "_jitter", "_rng", "_slow", "config")

    def __init__(self, config: SimConfig, rng: random.Random) -> None:
        self.config = config
        self._rng = rng
        self._jitter = Jitter(config.jitter, config.jitter_cv)
        self._extra_load = config.load_factor - 1.0
        self._batch = config.effective_load_batch
        self._slow = config.slow_itl
        # The common case (no jitter, no load effect) needs no arithmetic per token.
        self._constant_gap: float | None = (
            config.itl if self._jitter.is_constant and self._extra_load == 0 else None
        )

    def load(self, active: int) -> float:
        """Latency multiplier with ``active`` requests being served."""
        if self._extra_load == 0 or active <= 1:
            return 1.0
        return 1.0 + self._extra_load * (active - 1) / max(1, self._batch - 1)

    def time_to_first_token(self, prompt_tokens: int, active: int) -> float:
        """Prefill time for a prompt, excluding any queue wait."""
        config = self.config
        base = config.ttft + config.prefill_per_token * prompt_tokens
        return self._jitter.sample(self._rng, base * self.load(active))

    def inter_token(self, active: int, *, slow: bool = False) -> float:
        """Gap before the next token; ``slow`` is the slow-drip fault (never faster than usual)."""
        gap = self._constant_gap
        if gap is None:
            gap = self._jitter.sample(self._rng, self.config.itl * self.load(active))
        return max(gap, self._slow) if slow else gap

    def decode_time(self, tokens: int, active: int, *, slow: bool = False) -> float:
        """Time from the first to the last of ``tokens`` tokens (for non-streamed responses)."""
        if tokens <= 1:
            return 0.0
        gap = self._constant_gap
        if gap is not None and not slow:
            return gap * (tokens - 1)
        return math.fsum(self.inter_token(active, slow=slow) for _ in range(tokens - 1))


class TokenSchedule:
    """Absolute emission instants for one stream; see the module docstring."""

    __slots__ = ("deadline", "emitted")

    def __init__(self, start: float, ttft: float) -> None:
        self.deadline = start + ttft
        self.emitted = 0

    def advance(self, gap: float) -> float:
        """Move to the next token, ``gap`` after the previous *scheduled* instant."""
        self.emitted += 1
        self.deadline += gap
        return self.deadline

    def lateness(self, now: float) -> float:
        """How far behind schedule an emission at ``now`` is (negative: early)."""
        return now - self.deadline

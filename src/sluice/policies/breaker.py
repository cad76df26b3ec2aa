"""Circuit breaker: stop calling an upstream that is failing, then probe it carefully.

States and transitions:

- **closed**: calls pass; the outcomes of the last ``window`` calls are kept. Once at least
  ``min_calls`` were seen and the failure rate reaches ``failure_rate`` (or, with
  ``slow_call_s`` set, the slow-call rate reaches ``slow_call_rate``), the circuit opens.
- **open**: every call is rejected at once with `CircuitOpenError` carrying ``retry_after``.
  After ``open_for`` seconds the next call finds it half-open.
- **half_open**: exactly ``half_open_probes`` calls may run at once. A probe that succeeds
  closes the circuit (with a fresh window); one that fails (or is slow) re-opens it for a new
  full ``open_for``. Probes that end in a cancellation or an ignored error free their slot.

Only successes and failures count. Cancellations, local rejections and client errors
(``retryable = False``, such as a bad request) are neutral: neither successes nor failures.
An attempt cut short by the caller's total deadline is a cancellation too (the caller's budget
says nothing about the upstream's health); `Timeout(attempt=...)` is the gate's measure of an
attempt that took too long, and it counts as a failure.
Every admission returns a *ticket* (the state generation); outcomes that arrive after the state
moved on are dropped, so a slow call admitted before the circuit opened cannot close it.

    gate = Gate("llm", breaker=Breaker(failure_rate=0.5, window=20, min_calls=10))
    gate.statistics().breaker.state                # "closed", "open" or "half_open"
    gate.statistics().breaker.retry_after          # seconds until a probe, when open

The state machine itself is `sluice._stages.breaker.CircuitBreaker`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._classify import ErrorInfo, classify_error
from .._errors import ConfigError
from .._validate import check_fraction, check_int_at_least, check_optional_positive, check_positive
from .retry import RetryOn

__all__ = ["Breaker", "BreakerStateName", "BreakerStatistics", "counts_as_failure"]

BreakerStateName = Literal["closed", "open", "half_open"]


def counts_as_failure(exc: BaseException) -> bool:
    """Default failure classification (see `sluice.classify_error`): any error except local
    rejections, errors that declare themselves not retryable, and errors of the request
    itself (a 4xx other than 408, 409 and 429: the upstream is fine, the request is not).

    Errors that are not failures are neutral: they count neither way.
    """
    return classify_error(exc).failure


@dataclass(frozen=True, slots=True)
class Breaker:
    """Circuit breaker settings. Rates are fractions in (0, 1]; times are seconds.

    failure_on:
        ``None`` uses `counts_as_failure`; exception types count exactly those; a predicate
        ``(exc) -> bool`` decides.
    """

    failure_rate: float = 0.5
    window: int = 20
    min_calls: int = 10
    open_for: float = 30.0
    half_open_probes: int = 1
    slow_call_s: float | None = None
    slow_call_rate: float | None = None
    failure_on: RetryOn | None = None

    def __post_init__(self) -> None:
        check_fraction("Breaker", "failure_rate", self.failure_rate)
        check_int_at_least("Breaker", "window", self.window, 1)
        check_int_at_least("Breaker", "min_calls", self.min_calls, 1)
        if self.window < self.min_calls:
            raise ConfigError(
                f"Breaker(window=...) must be >= min_calls ({self.min_calls}), got {self.window}: "
                "the window could never hold enough calls to decide"
            )
        object.__setattr__(self, "open_for", check_positive("Breaker", "open_for", self.open_for))
        check_int_at_least("Breaker", "half_open_probes", self.half_open_probes, 1)
        slow = check_optional_positive("Breaker", "slow_call_s", self.slow_call_s)
        object.__setattr__(self, "slow_call_s", slow)
        if self.slow_call_rate is not None:
            check_fraction("Breaker", "slow_call_rate", self.slow_call_rate)
        failure_on = self.failure_on
        if isinstance(failure_on, type):
            object.__setattr__(self, "failure_on", (failure_on,))
        elif isinstance(failure_on, tuple):
            if not failure_on or not all(
                isinstance(t, type) and issubclass(t, BaseException) for t in failure_on
            ):
                raise ConfigError(
                    f"Breaker(failure_on=...) must be exception types or a predicate, "
                    f"got {failure_on!r}"
                )
        elif failure_on is not None and not callable(failure_on):
            raise ConfigError(
                "Breaker(failure_on=...) must be exception types or a predicate, "
                f"got {failure_on!r}"
            )

    def is_failure(self, exc: BaseException, info: ErrorInfo | None = None) -> bool:
        """Whether ``exc`` counts against the circuit (if not, it does not count at all);
        ``info`` is the gate's classification of it, when the gate has one."""
        failure_on = self.failure_on
        if failure_on is None:
            return (classify_error(exc) if info is None else info).failure
        if isinstance(failure_on, tuple):
            return isinstance(exc, failure_on)
        return bool(failure_on(exc))


@dataclass(frozen=True, slots=True)
class BreakerStatistics:
    """Snapshot of a circuit breaker."""

    state: BreakerStateName
    calls_in_window: int
    failure_rate: float
    slow_call_rate: float
    times_opened: int
    retry_after: float | None

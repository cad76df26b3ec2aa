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

    breaker = CircuitBreaker(Breaker(failure_rate=0.5, window=20, min_calls=10), gate="llm")
    ticket = breaker.admit(now)                    # raises CircuitOpenError when open
    breaker.record(ticket, now, failed=True, duration=0.2)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from .._errors import CircuitOpenError, ConfigError, RejectedError
from .._validate import check_fraction, check_int_at_least, check_optional_positive, check_positive
from .retry import RetryOn

__all__ = ["Breaker", "BreakerStatistics", "CircuitBreaker", "counts_as_failure"]

BreakerStateName = Literal["closed", "open", "half_open"]

_FAILED = 1
_SLOW = 2


def counts_as_failure(exc: BaseException) -> bool:
    """Default failure classification: any error except local rejections and errors that
    declare themselves not retryable (client errors: the upstream is fine, the request is not).

    Errors that are not failures are neutral: they count neither way.
    """
    if isinstance(exc, RejectedError):
        return False
    return getattr(exc, "retryable", None) is not False


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

    def is_failure(self, exc: BaseException) -> bool:
        """Whether ``exc`` counts against the circuit (if not, it does not count at all)."""
        failure_on = self.failure_on
        if failure_on is None:
            return counts_as_failure(exc)
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


class CircuitBreaker:
    """The breaker's state machine. Pure: time is passed in, nothing sleeps or does I/O."""

    __slots__ = (
        "_config",
        "_failures",
        "_gate",
        "_generation",
        "_open_until",
        "_outcomes",
        "_probes",
        "_slow_rate",
        "_slows",
        "_state",
        "_times_opened",
    )

    def __init__(self, config: Breaker, *, gate: str = "gate") -> None:
        self._config = config
        self._gate = gate
        self._slow_rate = config.slow_call_rate if config.slow_call_rate else config.failure_rate
        self._state: BreakerStateName = "closed"
        self._outcomes: deque[int] = deque()
        self._failures = 0
        self._slows = 0
        self._open_until = 0.0
        self._generation = 0
        self._probes = 0
        self._times_opened = 0

    @property
    def config(self) -> Breaker:
        return self._config

    def state(self, now: float) -> BreakerStateName:
        """The state a call arriving at ``now`` would find."""
        if self._state == "open" and now >= self._open_until:
            return "half_open"
        return self._state

    def admit(self, now: float) -> int:
        """Admit a call and return its ticket, or raise `CircuitOpenError`."""
        state = self._state
        if state == "closed":
            return self._generation
        if state == "open":
            if now < self._open_until:
                retry_after = self._open_until - now
                raise CircuitOpenError(
                    f"circuit of gate {self._gate!r} is open; retry in {retry_after:.3g}s",
                    gate=self._gate,
                    retry_after=retry_after,
                )
            self._enter("half_open")
        if self._probes >= self._config.half_open_probes:
            # The next decision comes when a probe returns, which is usually soon.
            retry_after = min(1.0, self._config.open_for)
            raise CircuitOpenError(
                f"circuit of gate {self._gate!r} is half-open and its "
                f"{self._config.half_open_probes} probe(s) are in flight",
                gate=self._gate,
                retry_after=retry_after,
            )
        self._probes += 1
        return self._generation

    def record(
        self, ticket: int, now: float, *, failed: bool | None, duration: float
    ) -> BreakerStateName | None:
        """Record an admitted call's outcome; ``failed=None`` means "does not count".

        Returns the new state if this outcome changed it, else ``None``.
        """
        if ticket != self._generation:
            return None
        slow_limit = self._config.slow_call_s
        slow = slow_limit is not None and duration >= slow_limit
        if self._state == "half_open":
            self._probes -= 1
            if failed is None:
                return None
            if failed or slow:
                self._open(now)
                return "open"
            self._enter("closed")
            return "closed"
        if failed is None or self._state != "closed":
            return None
        outcome = (_FAILED if failed else 0) | (_SLOW if slow else 0)
        outcomes = self._outcomes
        if len(outcomes) == self._config.window:
            evicted = outcomes.popleft()
            self._failures -= evicted & _FAILED
            self._slows -= (evicted & _SLOW) >> 1
        outcomes.append(outcome)
        self._failures += outcome & _FAILED
        self._slows += (outcome & _SLOW) >> 1
        calls = len(outcomes)
        if calls >= self._config.min_calls and (
            # Divide rather than multiply: 3 / 10 >= 0.3 holds, 3 >= 0.3 * 10 does not.
            self._failures / calls >= self._config.failure_rate
            or (slow_limit is not None and self._slows / calls >= self._slow_rate)
        ):
            self._open(now)
            return "open"
        return None

    def record_success(self, ticket: int) -> BreakerStateName | None:
        """`record` for a success when no slow-call threshold is set (no clock read needed)."""
        if ticket != self._generation:
            return None
        if self._state == "half_open":
            self._probes -= 1
            self._enter("closed")
            return "closed"
        outcomes = self._outcomes
        if len(outcomes) == self._config.window:
            evicted = outcomes.popleft()
            self._failures -= evicted & _FAILED
            self._slows -= (evicted & _SLOW) >> 1
        outcomes.append(0)
        return None

    def _open(self, now: float) -> None:
        self._enter("open")
        self._open_until = now + self._config.open_for
        self._times_opened += 1

    def _enter(self, state: BreakerStateName) -> None:
        self._state = state
        self._generation += 1
        self._probes = 0
        self._outcomes.clear()
        self._failures = 0
        self._slows = 0

    def statistics(self, now: float) -> BreakerStatistics:
        calls = len(self._outcomes)
        state = self.state(now)
        return BreakerStatistics(
            state=state,
            calls_in_window=calls,
            failure_rate=self._failures / calls if calls else 0.0,
            slow_call_rate=self._slows / calls if calls else 0.0,
            times_opened=self._times_opened,
            retry_after=self._open_until - now if state == "open" else None,
        )

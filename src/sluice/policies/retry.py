"""Retry: which errors to try again, how long to wait, and when to stop.

`Retry.decide` is pure: given the error, the attempt number, the time, the deadline and the
budget it returns a `RetryDecision`; the gate's loop only carries it out.

    retry = Retry(attempts=4, backoff=Backoff.exponential(base=0.5, cap=8.0))
    decision = retry.decide(exc, attempt=1, now=0.0, deadline=None, rng=rng, budget=None)
    if decision.retry: await sleep(decision.delay)

Stop rules, checked in order: the error is not retryable; attempts are used up; the error asks
for a wait longer than ``max_retry_after``; the wait would pass the deadline; the gate's retry
budget is empty. An error carrying ``retry_after`` (as an attribute, or a Retry-After header on
its response) is waited for exactly that long.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from .._classify import ErrorInfo, classify_error
from .._errors import ConfigError
from .._validate import check_int_at_least, check_non_negative
from .backoff import Backoff
from .budget import RetryBudget

__all__ = [
    "Attempt",
    "Retry",
    "RetryBalance",
    "RetryDecision",
    "attach_history",
    "attempt_history",
    "is_retryable",
]

RetryOn: TypeAlias = (
    type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]
)

_HISTORY_ATTR = "_sluice_attempts"


class RetryBalance(Protocol):
    """What `Retry.decide` needs of a retry budget: spend one retry, if there is one."""

    def try_withdraw(self, now: float) -> bool:
        """Spend one retry if the balance allows it; whether it did."""


def is_retryable(exc: BaseException) -> bool:
    """The default classification (see `sluice.classify_error`): an explicit ``retryable``
    attribute wins; then the HTTP status the error carries (408, 409, 429, 5xx retry), in the
    shapes of the common client libraries; then timeouts and lost connections retry.
    Everything else does not."""
    return classify_error(exc).retryable


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What to do after a failed attempt: ``retry`` after ``delay`` s, or stop for ``reason``."""

    retry: bool
    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class Retry:
    """Retry policy. ``attempts`` counts every try, the first one included.

    retry_on:
        ``None`` uses `is_retryable`; exception types retry exactly those; a predicate
        ``(exc) -> bool`` decides itself (compose with `is_retryable` to extend the default).
    budget:
        the gate-wide `RetryBudget`; ``None`` turns the budget off.
    """

    attempts: int = 3
    backoff: Backoff = field(default_factory=Backoff.exponential)
    retry_on: RetryOn | None = None
    max_retry_after: float = 120.0
    budget: RetryBudget | None = field(default_factory=RetryBudget)

    def __post_init__(self) -> None:
        check_int_at_least("Retry", "attempts", self.attempts, 1)
        if not isinstance(self.backoff, Backoff):
            raise ConfigError(
                f"Retry(backoff=...) must be a sluice.Backoff, e.g. Backoff.exponential(), "
                f"got {self.backoff!r}"
            )
        limit = check_non_negative("Retry", "max_retry_after", self.max_retry_after)
        object.__setattr__(self, "max_retry_after", limit)
        if self.budget is not None and not isinstance(self.budget, RetryBudget):
            raise ConfigError(
                f"Retry(budget=...) must be a sluice.RetryBudget or None, got {self.budget!r}"
            )
        retry_on = self.retry_on
        if isinstance(retry_on, type):
            retry_on = (retry_on,)
            object.__setattr__(self, "retry_on", retry_on)
        if isinstance(retry_on, tuple):
            if not retry_on or not all(
                isinstance(t, type) and issubclass(t, BaseException) for t in retry_on
            ):
                raise ConfigError(
                    "Retry(retry_on=...) must be exception types, a predicate (exc) -> bool, "
                    f"or None for the default classification, got {self.retry_on!r}"
                )
        elif retry_on is not None and not callable(retry_on):
            raise ConfigError(
                "Retry(retry_on=...) must be exception types, a predicate (exc) -> bool, "
                f"or None for the default classification, got {retry_on!r}"
            )

    def classify(self, exc: BaseException, info: ErrorInfo | None = None) -> bool:
        """Whether ``exc`` is worth another attempt under this policy (``info``: the gate's
        classification of it, when the gate has one)."""
        retry_on = self.retry_on
        if retry_on is None:
            return (classify_error(exc) if info is None else info).retryable
        if isinstance(retry_on, tuple):
            return isinstance(exc, retry_on)
        return bool(retry_on(exc))

    def decide(
        self,
        exc: BaseException,
        *,
        attempt: int,
        now: float,
        deadline: float | None,
        rng: random.Random,
        budget: RetryBalance | None,
        info: ErrorInfo | None = None,
    ) -> RetryDecision:
        """Decide what follows failed attempt number ``attempt`` (1-based). ``info`` is the
        gate's classification of ``exc`` (default: `sluice.classify_error`)."""
        if info is None:
            info = classify_error(exc)
        if not self.classify(exc, info):
            return RetryDecision(False, 0.0, "not retryable")
        if attempt >= self.attempts:
            return RetryDecision(False, 0.0, f"all {self.attempts} attempts used")
        asked = info.retry_after
        if asked is not None and asked > self.max_retry_after:
            reason = f"retry_after={asked:g}s exceeds max_retry_after={self.max_retry_after:g}s"
            return RetryDecision(False, 0.0, reason)
        delay = asked if asked is not None else self.backoff.delay(attempt, rng)
        if deadline is not None and now + delay >= deadline:
            return RetryDecision(False, 0.0, f"waiting {delay:.3g}s would pass the deadline")
        if budget is not None and not budget.try_withdraw(now):
            return RetryDecision(False, 0.0, "retry budget exhausted")
        return RetryDecision(True, delay, "retry")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One failed attempt: its number, the error (as text), how long it ran, the sleep after."""

    number: int
    error: str
    duration: float
    delay: float | None


def attach_history(exc: BaseException, gate: str, history: list[Attempt], reason: str) -> None:
    """Record the attempts on ``exc`` (readable with `attempt_history`) and add a note."""
    # Exceptions with __slots__ and no __dict__ refuse the attribute; the note still tells.
    with contextlib.suppress(AttributeError):
        setattr(exc, _HISTORY_ATTR, tuple(history))
    steps = "; ".join(
        f"#{a.number} {a.error} after {a.duration:.3g}s"
        + (f", waited {a.delay:.3g}s" if a.delay is not None else "")
        for a in history
    )
    exc.add_note(
        f"sluice: gate {gate!r} stopped after {len(history)} attempt(s): {reason}. {steps}"
    )


def attempt_history(exc: BaseException) -> tuple[Attempt, ...]:
    """The attempts a gate made before raising ``exc`` (empty if it was not retried)."""
    history = getattr(exc, _HISTORY_ATTR, ())
    return history if isinstance(history, tuple) else ()

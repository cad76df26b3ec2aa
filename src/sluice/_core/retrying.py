"""The retry policy at run time: one gate's decisions, its budget, its jitter, the history.

`Retry.decide` is pure; `Retrying` feeds it what one gate knows (the attempt, the time, the
call's deadline, the gate-wide budget, a seeded random source), keeps the history of failed
attempts on the call, and notes on the error why it stopped. The kernel's loop only sleeps for
the delay it is given, or re-raises.

    retrying = Retrying(Retry(attempts=4), budget=state.retry_budget, rng=random.Random(7),
                        gate="llm")
    delay = retrying.after_failure(call, exc, number=1, began=0.0, now=0.3)  # None: give up
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .._classify import ErrorInfo, classify_error
from ..policies.retry import Attempt, Retry, attach_history
from .call import Call
from .state import BudgetState

__all__ = ["Retrying", "describe"]


def describe(exc: BaseException) -> str:
    """An error in one short line: its type and the start of its message."""
    text = str(exc)
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(exc).__name__}({text!r})" if text else type(exc).__name__


class Retrying:
    """Carries out a `Retry` policy for one gate."""

    __slots__ = ("_budget", "_classify", "_gate", "_policy", "_rng", "retried")

    def __init__(
        self,
        policy: Retry,
        *,
        budget: BudgetState | None,
        rng: random.Random,
        gate: str,
        classify: Callable[[BaseException], ErrorInfo] = classify_error,
    ) -> None:
        self._policy = policy
        self._classify = classify
        self._budget = budget
        self._rng = rng
        self._gate = gate
        self.retried = 0

    @property
    def policy(self) -> Retry:
        return self._policy

    def after_failure(
        self, call: Call, exc: Exception, number: int, began: float, now: float
    ) -> float | None:
        """Attempt ``number`` (begun at ``began``) failed with ``exc`` at ``now``: the seconds
        to wait before the next one, or ``None`` to give up (``exc`` then carries the history)."""
        policy = self._policy
        # The attempt's error was classified as it was recorded; a refusal before it started
        # (or an error of the classification itself) was not.
        info = call.info if call.error is exc else None
        if info is None:
            try:
                info = self._classify(exc)
            except Exception:
                info = classify_error(exc)
        decision = policy.decide(
            exc,
            attempt=number,
            now=now,
            deadline=call.deadline,
            rng=self._rng,
            budget=self._budget,
            info=info,
        )
        history = call.history
        if history is None:
            history = call.history = []
        delay = decision.delay if decision.retry else None
        history.append(Attempt(number, describe(exc), now - began, delay))
        if not decision.retry:
            if number > 1 or (policy.attempts > 1 and decision.reason != "not retryable"):
                attach_history(exc, self._gate, history, decision.reason)
            return None
        call.last_error = exc
        self.retried += 1
        return decision.delay

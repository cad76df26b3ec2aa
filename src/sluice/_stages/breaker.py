"""The circuit breaker's state machine, and its stage in every attempt.

`CircuitBreaker` is pure: time is passed in, nothing sleeps or does I/O. Its decisions are
`admit` (a ticket, or `CircuitOpenError`) and `record` (the new state, if the outcome changed
it); as a stage, `before` admits and `after` classifies the attempt's outcome and records it.
What counts (see `sluice.policies.breaker`): successes, and failures as the `Breaker`
classifies them; cancellations, local rejections, attempts that never reached the upstream and
errors the breaker does not count are neutral. Every admission returns a *ticket* (the state
generation); outcomes that arrive after the state moved on are dropped, so a slow call
admitted before the circuit opened cannot close it.

    breaker = CircuitBreaker(Breaker(failure_rate=0.5, window=20, min_calls=10), gate="llm")
    ticket = breaker.admit(now)                    # raises CircuitOpenError when open
    breaker.record(ticket, now, failed=True, duration=0.2)
"""

from __future__ import annotations

import logging
from collections import deque

from .._core.call import Call
from .._errors import CircuitOpenError
from ..policies.breaker import Breaker, BreakerStateName, BreakerStatistics

__all__ = ["CircuitBreaker"]

logger = logging.getLogger("sluice")

_FAILED = 1
_SLOW = 2


class CircuitBreaker:
    """The breaker's state machine, and its stage. Pure: time is passed in, nothing waits."""

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
        "_window",
    )

    def __init__(self, config: Breaker, *, gate: str = "gate") -> None:
        self._config = config
        self._window = config.window
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
        if len(outcomes) == self._window and (evicted := outcomes.popleft()):
            self._evict(evicted)
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
        if len(outcomes) == self._window and (evicted := outcomes.popleft()):
            self._evict(evicted)
        outcomes.append(0)
        return None

    def _evict(self, outcome: int) -> None:
        """An outcome left the window: it no longer counts."""
        self._failures -= outcome & _FAILED
        self._slows -= (outcome & _SLOW) >> 1

    # ------------------------------------------------------------------ the stage
    admits = True
    holds = False
    after_success = True

    def before(self, call: Call, now: float) -> None:
        call.ticket = self._generation if self._state == "closed" else self.admit(now)

    def free(self, call: Call) -> None:
        pass

    def after(self, call: Call, now: float) -> None:
        error = call.error
        started = call.started
        if error is None:
            if self._config.slow_call_s is None:
                if call.ticket == self._generation and self._state == "closed":
                    # `record_success` for the common case, inlined: it runs on every call.
                    outcomes = self._outcomes
                    if len(outcomes) == self._window and (evicted := outcomes.popleft()):
                        self._evict(evicted)
                    outcomes.append(0)
                    return
                change = self.record_success(call.ticket)
            else:
                assert started is not None  # a success was issued
                change = self.record(call.ticket, now, failed=False, duration=now - started)
        else:
            if started is None or not isinstance(error, Exception):
                failed: bool | None = None  # never reached the upstream, or cancelled
            else:
                failed = True if self._config.is_failure(error, call.info) else None
            duration = 0.0 if started is None else now - started
            change = self.record(call.ticket, now, failed=failed, duration=duration)
        if change == "open":
            logger.warning(
                "gate %r: circuit opened, rejecting calls for %.3gs (opened %d time(s) so far)",
                self._gate,
                self._config.open_for,
                self._times_opened,
            )
        elif change == "closed":
            logger.info("gate %r: circuit closed after a successful probe", self._gate)

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

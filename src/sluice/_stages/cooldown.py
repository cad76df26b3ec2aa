"""The cooldown: a gate-wide pause that an overloaded upstream asks for.

When an attempt fails with an error marked ``overloaded`` that carries ``retry_after`` (an
HTTP 429 or 503 with Retry-After), every new attempt of the gate waits that long, not just the
retry of the one that failed: the upstream said it is full, and the calls in line would only
be refused too. `Gate.pause` and rate-limit headers reporting an empty budget pause the same
way. Attempts already running are not touched, and a pause is never shortened.

    cooldown = Cooldown(gate="llm")
    cooldown.pause(until=now + 20.0)
    cooldown.before(call, now)           # 20.0: wait that long, then go on
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .._core.call import Call
from .._errors import DeadlineExceeded

__all__ = ["Cooldown"]


class Cooldown:
    """The pause, and its stage: ``before`` waits it out, ``after`` starts one when told to.

    Until the first pause there is nothing to wait for: the stage does not admit (the kernel
    does not ask it), and ``on_first_pause`` tells its state when that changes.
    """

    __slots__ = ("_gate", "admits", "on_first_pause", "until")

    holds = False
    after_success = False

    def __init__(self, *, gate: str, on_first_pause: Callable[[], None] | None = None) -> None:
        self._gate = gate
        self.until = -math.inf  # gate clock time before which no attempt starts
        self.admits = False
        self.on_first_pause = on_first_pause

    def pause(self, until: float) -> None:
        """Hold new attempts until ``until``, unless a longer pause is already in force."""
        if until > self.until:
            self.until = until
            if not self.admits:
                self.admits = True
                if self.on_first_pause is not None:
                    self.on_first_pause()

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)

    def before(self, call: Call, now: float) -> float | None:
        until = self.until
        if until <= now:
            return None
        deadline = call.deadline
        if deadline is not None and until >= deadline:
            raise DeadlineExceeded(
                f"gate {self._gate!r} is paused for {until - now:.3g}s (the upstream asked for "
                f"a cooldown), longer than the {deadline - now:.3g}s left",
                gate=self._gate,
                timeout=max(0.0, deadline - now),
                retry_after=until - now,
            )
        return until - now

    def free(self, call: Call) -> None:
        pass

    def after(self, call: Call, now: float) -> None:
        if call.error is not None and call.started is not None and call.overloaded:
            retry_after = call.retry_after
            if retry_after is not None and retry_after > 0:
                self.pause(now + retry_after)

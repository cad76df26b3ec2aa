"""The cooldown: a gate-wide pause that an overloaded upstream asks for.

When an attempt fails with an error marked ``overloaded`` that carries ``retry_after`` (an
HTTP 429 or 503 with Retry-After), every new attempt of the gate waits that long, not just the
retry of the one that failed: the upstream said it is full, and the calls in line would only
be refused too. `Gate.pause` pauses the same way. Attempts already running are not touched,
and a pause is never shortened.

Two things keep one answer from stalling the gate:

- the pause is capped at ``max_pause`` (the retry policy's ``max_retry_after``): a server
  asking for a day gets asked again after that, and a caller whose deadline comes first fails
  at once with a `DeadlineExceeded` that carries ``retry_after``;
- a 429 pauses everyone only when the quota is spent. When the upstream reported during the
  attempt that its budgets have room left (``x-ratelimit-remaining-*`` of at least 1), the
  refusal was sporadic: the failed call alone backs off (its retry waits the Retry-After).

    cooldown = Cooldown(gate="llm", max_pause=120.0)
    cooldown.pause(until=now + 20.0)
    cooldown.before(call, now)           # 20.0: wait that long, then go on
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .._core.call import Call
from .._errors import ConfigError, DeadlineExceeded
from .signals import reported

__all__ = ["Cooldown"]

_TOO_MANY_REQUESTS = 429


class Cooldown:
    """The pause, and its stage: ``before`` waits it out, ``after`` starts one when told to.

    Until the first pause there is nothing to wait for: the stage does not admit (the kernel
    does not ask it), and ``on_first_pause`` tells its state when that changes.
    """

    __slots__ = (
        "_gate",
        "_quota_at",
        "_quota_left",
        "admits",
        "max_pause",
        "on_first_pause",
        "until",
    )

    holds = False
    after_success = False

    def __init__(
        self,
        *,
        gate: str,
        max_pause: float = math.inf,
        on_first_pause: Callable[[], None] | None = None,
    ) -> None:
        self._gate = gate
        self.until = -math.inf  # gate clock time before which no attempt starts
        self.admits = False
        self.max_pause = max_pause
        self.on_first_pause = on_first_pause
        # The latest report of the upstream's remaining budgets: when, and whether all had room.
        self._quota_at = -math.inf
        self._quota_left = False

    def pause(self, until: float) -> None:
        """Hold new attempts until ``until``, unless a longer pause is already in force."""
        if reported(until, least=-math.inf) is None:
            raise ConfigError(
                f"gate {self._gate!r}: a pause must end at a finite time, got until={until!r}; "
                "give gate.pause(seconds=...) a finite number of seconds"
            )
        if until > self.until:
            self.until = until
            if not self.admits:
                self.admits = True
                if self.on_first_pause is not None:
                    self.on_first_pause()

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)

    def report_quota(self, now: float, *, left: bool) -> None:
        """The upstream reported its remaining budgets at ``now``: ``left`` if every one
        reported has at least one unit left."""
        self._quota_at = now
        self._quota_left = left

    def pause_after(self, call: Call) -> float:
        """How long the failed attempt of ``call`` pauses the whole gate (0: not at all).

        Its Retry-After capped at ``max_pause``, when the error is ``overloaded``; nothing
        for a 429 whose own rate-limit headers, or the upstream's latest report made since
        the attempt started, said every budget has room left.
        """
        info = call.info
        if info is None:
            return 0.0
        retry_after = info.retry_after
        if not info.overloaded or retry_after is None or retry_after <= 0:
            return 0.0
        if info.status == _TOO_MANY_REQUESTS:
            if info.quota_left is not None:
                if info.quota_left:
                    return 0.0
            else:
                started = call.started
                if self._quota_left and started is not None and self._quota_at >= started:
                    return 0.0
        cap = self.max_pause
        return retry_after if retry_after < cap else cap

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
        if call.error is not None and call.started is not None:
            seconds = self.pause_after(call)
            if seconds > 0:
                self.pause(now + seconds)

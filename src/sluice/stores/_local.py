"""The local state store: a gate's policy state in this process (the default).

`LocalStore.open` builds the stages on in-process state machines (`sluice._stages`): every
admission decision is a plain method call, so the local store costs nothing beyond the
policies themselves. It cannot become unreachable, so its fail mode never applies.

    state = LocalStore().open(GateSpec("llm", clock, rate=Rate(rpm=600)))
    state.stages                  # (Cooldown, RateLimiter)
    state.observe_limits(now, requests_limit=500, requests_remaining=0, requests_reset=60.0)
    state.statistics(now).rate.delay        # 0.12: the next request comes one interval later
"""

from __future__ import annotations

from .._core.stage import Stage
from .._core.state import DEFAULT_MAX_PAUSE, FailMode, GateSpec, StateStatistics
from .._stages.adaptive import AdaptiveLimit
from .._stages.breaker import CircuitBreaker
from .._stages.budget import RetryBudgetState
from .._stages.cooldown import Cooldown
from .._stages.permits import ConcurrencyLimiter
from .._stages.rate import RateLimiter
from .._stages.signals import reported
from ..policies.adaptive import Adaptive

__all__ = ["LocalState", "LocalStore"]


class LocalStore:
    """Keeps every gate's state in this process; each gate has its own.

    state = LocalStore().open(spec)
    """

    __slots__ = ()

    def open(self, spec: GateSpec) -> LocalState:
        return LocalState(spec)

    def __repr__(self) -> str:
        return "LocalStore()"


class LocalState:
    """One gate's state in this process: its stages, with the controls that reach them."""

    fail: FailMode = "open"

    def __init__(self, spec: GateSpec) -> None:
        name = spec.name
        self._name = name
        self.breaker = None if spec.breaker is None else CircuitBreaker(spec.breaker, gate=name)
        max_pause = DEFAULT_MAX_PAUSE if spec.max_pause is None else spec.max_pause
        self.cooldown = Cooldown(gate=name, max_pause=max_pause, on_first_pause=self._changed)
        # A gate with no policy at all skips even the pause check, until it is paused.
        self._cooling = spec.cooldown
        self.rate = None if spec.rate is None else RateLimiter(spec.rate, gate=name)
        concurrency = spec.concurrency
        self.permits: ConcurrencyLimiter | None
        if isinstance(concurrency, Adaptive):
            self.permits = ConcurrencyLimiter(
                concurrency.limiter_config(),
                gate=name,
                adaptive=AdaptiveLimit(concurrency),
                stall_after=spec.attempt_timeout,
            )
        elif concurrency is not None:
            self.permits = ConcurrencyLimiter(
                concurrency, gate=name, stall_after=spec.attempt_timeout
            )
        else:
            self.permits = None
        budget = spec.retry_budget
        self.retry_budget = None if budget is None else RetryBudgetState(budget)
        self.stages = self._assemble()

    def _assemble(self) -> tuple[Stage, ...]:
        # Policy order: a rejection costs nothing upstream, a pause holds no rate slot, and a
        # rate wait holds no permit.
        cooldown = self.cooldown if self._cooling else None
        ordered: tuple[Stage | None, ...] = (self.breaker, cooldown, self.rate, self.permits)
        return tuple(stage for stage in ordered if stage is not None)

    def _changed(self) -> None:
        # A new tuple, which the kernel notices: a stage was added, or one started to admit.
        self._cooling = True
        self.stages = self._assemble()

    def fallback(self) -> tuple[Stage, ...]:
        return self.stages

    def pause(self, until: float) -> None:
        self.cooldown.pause(until)

    def observe_limits(
        self,
        now: float,
        *,
        requests_limit: float | None = None,
        requests_remaining: float | None = None,
        requests_reset: float | None = None,
        tokens_limit: float | None = None,
        tokens_remaining: float | None = None,
        tokens_reset: float | None = None,
    ) -> None:
        # The resets say when a budget is *full* again, not when the next unit comes: they
        # neither pause the gate nor pace it (the limit, per minute, gives the refill rate).
        requests_limit = reported(requests_limit, least=1.0)
        tokens_limit = reported(tokens_limit, least=1.0)
        requests_remaining = reported(requests_remaining, least=0.0)
        tokens_remaining = reported(tokens_remaining, least=0.0)
        if requests_remaining is not None or tokens_remaining is not None:
            # What a 429 arriving now is weighed against: is the quota spent, or was it sporadic?
            self.cooldown.report_quota(
                now,
                left=(requests_remaining is None or requests_remaining >= 1.0)
                and (tokens_remaining is None or tokens_remaining >= 1.0),
            )
        rate = self.rate
        if rate is None:
            if requests_limit is None and tokens_limit is None:
                return
            rate = self.rate = RateLimiter(None, gate=self._name)
            self._changed()
        counted = rate.counts_tokens
        rate.observe(
            now,
            requests_limit=requests_limit,
            requests_remaining=requests_remaining,
            tokens_limit=tokens_limit,
            tokens_remaining=tokens_remaining,
        )
        if rate.counts_tokens != counted:
            self._changed()  # the rate stage now settles successes: the kernel must know

    def concurrency_ceiling(self) -> int | None:
        return None if self.permits is None else self.permits.ceiling

    def statistics(self, now: float) -> StateStatistics:
        permits = self.permits
        return StateStatistics(
            breaker=None if self.breaker is None else self.breaker.statistics(now),
            rate=None if self.rate is None else self.rate.statistics(now),
            concurrency_limit=None if permits is None else permits.limit,
            waiting=0 if permits is None else permits.waiting,
            paused_for=self.cooldown.remaining(now),
            adaptive=None if permits is None else permits.adaptive_statistics(),
        )

    async def aclose(self) -> None:
        """Nothing to release: the state lives and dies with the gate."""

    def __repr__(self) -> str:
        return f"LocalState({self._name!r}, stages={len(self.stages)})"

"""The state seam: where a gate's shareable policy state lives, as the kernel sees it.

Rate and token budgets, concurrency permits, the breaker, the cooldown after a 429 and the
retry budget are *state*: in one process by default, or in a store shared by every process
and host that runs a gate of the same name. A `StateStore` opens one `GateState` per gate; the
gate state hands the kernel its admission stages (see `sluice._core.stage`) and answers the
controls and statistics that touch the same state.

- The local store (`sluice.stores.LocalStore`) keeps today's in-process objects: its stages
  decide with plain method calls, at no cost beyond the policies themselves.
- A remote store returns stages whose ``before`` is an awaitable: one round trip that makes
  every admission check of the attempt at once (breaker, cooldown, rate, permit), so a call
  costs one round trip to admit. Outcomes (``free``, ``after``) never wait: a remote store
  queues them and sends them on its own schedule.
- When a remote store cannot be reached, its stage raises `StoreUnavailable`. The kernel then
  applies the store's ``fail`` mode: ``"open"`` admits the attempt through the gate state's
  ``fallback`` stages (local limits), ``"closed"`` refuses it with a `RejectedError`. Nothing
  waits on a dead store longer than the store's own timeout.

    state = LocalStore().open(spec)
    stages = state.stages                      # admission stages, in policy order
    state.pause(until=now + 30.0)              # the upstream asked for a cooldown
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from .._clock import Clock
from ..policies.adaptive import Adaptive, AdaptiveStatistics
from ..policies.breaker import Breaker, BreakerStatistics
from ..policies.budget import RetryBudget
from ..policies.limit import Concurrency
from ..policies.rate import Rate, RateStatistics
from .stage import Stage

__all__ = [
    "DEFAULT_MAX_PAUSE",
    "BudgetState",
    "FailMode",
    "GateSpec",
    "GateState",
    "SharedStatistics",
    "StateStatistics",
    "StateStore",
    "StoreUnavailable",
]

FailMode = Literal["open", "closed"]

DEFAULT_MAX_PAUSE = 120.0
"""The longest pause a Retry-After may set on a gate without a retry policy (the default
``Retry.max_retry_after``): a server asking for a day must not freeze the client for one."""


class StoreUnavailable(Exception):
    """Raised by a stage whose store cannot be reached (refused, timed out, failing).

    Never reaches the caller: the kernel turns it into the store's fail mode.
    """


@dataclass(frozen=True, slots=True)
class GateSpec:
    """What a gate asks of its state store: its name, its clock, and the policies whose state
    the store keeps. ``cooldown`` says whether attempts honour a gate-wide pause (every gate
    with at least one policy does; a gate with none starts to once it is paused).
    ``max_pause`` is the longest gate-wide pause an upstream's Retry-After may set (the retry
    policy's ``max_retry_after``; ``None``: `DEFAULT_MAX_PAUSE`). ``attempt_timeout`` is the
    gate's: a caller waiting for a permit gives up when none has come back for that long."""

    name: str
    clock: Clock
    breaker: Breaker | None = None
    rate: Rate | None = None
    concurrency: Concurrency | Adaptive | None = None
    retry_budget: RetryBudget | None = None
    cooldown: bool = False
    max_pause: float | None = None
    attempt_timeout: float | None = None


@dataclass(frozen=True, slots=True)
class SharedStatistics:
    """The shared side of a gate whose state lives in a store (``Gate(shared=...)``).

    ``fail`` is the store's fail mode (what calls meet while it is unreachable). The shared
    numbers are those of the latest exchange with the store, ``age`` seconds ago
    (``None``: none yet): ``in_flight`` attempts holding a lease in every process together,
    ``breaker_state``, ``paused_for``, ``rate_delay`` (what a new call would wait for the
    shared rate) and ``retry_budget`` (retries the shared budget allows now). The local ones:
    ``held_here`` (leases this process holds), ``reachable``, ``outages`` (times the store,
    reachable until then, stopped answering), ``degraded_admissions`` (attempts admitted on
    this process's own limits while it was not), ``dropped_outcomes`` (outcomes that could
    not be sent) and ``batches_sent`` (exchanges that carried outcomes to the store).
    """

    store: str
    fail: FailMode
    reachable: bool
    in_flight: int | None
    held_here: int
    breaker_state: str | None
    paused_for: float
    rate_delay: float
    retry_budget: float | None
    age: float | None
    degraded_admissions: int
    outages: int
    dropped_outcomes: int
    batches_sent: int


@dataclass(frozen=True, slots=True)
class StateStatistics:
    """What the state of one gate looks like now (the gate's statistics embed it)."""

    breaker: BreakerStatistics | None
    rate: RateStatistics | None
    concurrency_limit: int | None
    waiting: int
    paused_for: float
    adaptive: AdaptiveStatistics | None
    shared: SharedStatistics | None = None


class BudgetState(Protocol):
    """The gate-wide retry budget: every call deposits, every retry withdraws."""

    def deposit(self, now: float) -> None:
        """Record one call."""

    def try_withdraw(self, now: float) -> bool:
        """Spend one retry if the balance allows it; whether it did."""


class GateState(Protocol):
    """The state of one gate's policies, and the stages that admit attempts against it.

    ``stages`` may change (a gate that learns a rate limit from the upstream gains a rate
    stage): it is then a new tuple, which the kernel notices at the next attempt.
    """

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The admission stages, in policy order."""

    @property
    def retry_budget(self) -> BudgetState | None:
        """The gate-wide retry budget, when the retry policy has one."""

    @property
    def fail(self) -> FailMode:
        """What attempts do while the store cannot be reached: admitted on local state
        (``"open"``) or refused (``"closed"``)."""

    def fallback(self) -> tuple[Stage, ...]:
        """Stages on local state, for attempts admitted while the store is unreachable."""

    def pause(self, until: float) -> None:
        """Hold every new attempt until ``until`` (gate clock); never shortens a pause.
        Raises `ConfigError` unless ``until`` is a finite number."""

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
        """Align the rate limits with what the upstream reports (per-minute budgets). A
        budget with nothing left paces new attempts at its refill interval; reports never
        pause the gate (a reset is the time until the budget is *full* again)."""

    def concurrency_ceiling(self) -> int | None:
        """The most attempts that may ever run at once (``None``: unbounded)."""

    def statistics(self, now: float) -> StateStatistics:
        """A snapshot of this state."""

    async def aclose(self) -> None:
        """Release what the state holds (connections, background work); idempotent."""


class StateStore(Protocol):
    """Where gates keep their shareable state; opens one `GateState` per gate."""

    def open(self, spec: GateSpec) -> GateState:
        """The state for the gate ``spec`` describes."""

"""One gate's state in Redis, shared by every process and host that opens the same name.

`SharedState` is the `GateState` a `RedisState` store opens: one admission stage that makes
every check in one round trip (`SharedAdmission`), an `Outbox` that sends outcomes without
waiting, a retry budget shared with a lag of one batch, and a `LocalState` for the time Redis
cannot be reached (its limits divided by ``expected_workers``, when the store was told how
many processes share the gate). An `Adaptive` concurrency limit stays in each process: the
leases in Redis then cap all processes together at the limit's ``max``, and each process's
own adaptive limit moves below that.

What the gate's statistics show of it: the local state, plus `SharedStatistics`, the shared
numbers as of the latest exchange with Redis.

    state = RedisState("redis://127.0.0.1:6379/0").open(spec)
    state.stages                    # (SharedAdmission,)
    state.statistics(now).shared    # SharedStatistics(in_flight=..., breaker_state=...)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from typing import Any, Protocol

from .._core.call import Call
from .._core.stage import Stage
from .._core.state import (
    FailMode,
    GateSpec,
    SharedStatistics,
    StateStatistics,
    StoreUnavailable,
)
from .._stages.signals import reported
from ..policies.adaptive import Adaptive
from ..policies.breaker import BreakerStateName, BreakerStatistics
from ..policies.limit import Concurrency
from ..policies.rate import RateStatistics
from ._local import LocalState
from ._redis_admission import SharedAdmission
from ._redis_budget import SharedBudget
from ._redis_connect import RedisConnections
from ._redis_outbox import Link, Op, Outbox
from ._redis_scripts import (
    ADMIT,
    OUTCOMES,
    AdmitArgs,
    Script,
    outcome_args,
    rate_args,
    run_script,
)

__all__ = ["SharedState"]

logger = logging.getLogger("sluice")

_BREAKER_STATES: tuple[BreakerStateName, ...] = ("closed", "open", "half_open")


class StoreSettings(Protocol):
    """What a gate's shared state takes from its store (see `RedisState` for each)."""

    fail: FailMode
    expected_workers: int | None
    timeout: float
    lease: float
    retry_every: float
    prefix: str
    connections: RedisConnections

    @property
    def where(self) -> str: ...

    async def release(self, state: SharedState) -> None: ...


class SharedState:
    """The state of one gate in Redis (see the module docstring)."""

    def __init__(self, spec: GateSpec, store: StoreSettings) -> None:
        self.spec = spec
        self._store = store
        self._clock = spec.clock
        self.fail: FailMode = store.fail
        self.link = Link(store.where, store.retry_every)
        tag = "{" + store.prefix + ":" + _escape(spec.name) + "}"
        keys = (tag, f"{tag}:leases", f"{tag}:window", f"{tag}:budget")
        self._keys = tuple(key.encode() for key in keys)
        concurrency = spec.concurrency
        self.lease_limit = (
            None
            if concurrency is None
            else concurrency.max
            if isinstance(concurrency, Adaptive)
            else concurrency.limit
        )
        self._local = LocalState(_share(spec, store.expected_workers))
        self._rate = rate_args(spec.rate)
        self._admit_args = AdmitArgs(
            rate=self._rate,
            lease_for=store.lease,
            probes=0 if spec.breaker is None else spec.breaker.half_open_probes,
        )
        self._header = outcome_args(
            breaker=spec.breaker, budget=spec.retry_budget, rate=self._rate, lease_for=store.lease
        )
        self.outbox = Outbox(
            send=self._send,
            link=self.link,
            renew_every=store.lease / 3.0,
            on_released=self._released,
        )
        self.admission = SharedAdmission(self)
        adaptive = self._local.permits if isinstance(concurrency, Adaptive) else None
        self.stages: tuple[Stage, ...] = (self.admission,) + (
            () if adaptive is None else (adaptive,)
        )
        budget = spec.retry_budget
        self.retry_budget = None if budget is None else SharedBudget(budget, self.outbox)
        self._view: list[Any] | None = None
        self._view_at = -math.inf
        self.degraded_admissions = 0

    # ------------------------------------------------------------------ exchanges
    async def admit(
        self, lease: str | None, tokens: float, deadline: float, phase: str = "a"
    ) -> list[Any]:
        """One `ADMIT` round trip (see `sluice.stores._redis_scripts`)."""
        releases = self.outbox.take_releases()
        args = self._admit_args.for_call(
            phase=phase,
            tokens=tokens,
            deadline=deadline,
            limit=0 if lease is None or self.lease_limit is None else self.lease_limit,
            lease=lease or "",
            releases=releases,
        )
        try:
            reply = await self._exchange(ADMIT, args, admitting=True)  # keys: the first 3
        except BaseException:
            # Not delivered, or not known to be (a cancelled exchange): a release is
            # idempotent, so it is sent again.
            self.outbox.requeue(releases)
            raise
        if releases:
            self.admission.released(len(releases))
        return reply

    async def _send(self, batch: list[Op]) -> None:
        budget = self.retry_budget
        ops = [part for op in batch for part in op]
        sent = 0
        if budget is not None:
            sent = sum(int(op[1]) for op in batch if op[0] == "b")  # the budget's changes
            ops += ["b", 0]  # every exchange brings the shared balance back
        reply = await self._exchange(OUTCOMES, [*self._header, *ops])
        self._view = reply
        self._view_at = time.monotonic()
        opened, closed = int(reply[4]), int(reply[5])
        if budget is not None:
            budget.answered(float(reply[3]), sent)
        if opened:
            logger.warning(
                "gate %r: shared circuit opened, rejecting calls in every process for %.3gs",
                self.spec.name,
                float(reply[6]),
            )
        elif closed:
            logger.info("gate %r: shared circuit closed after a successful probe", self.spec.name)

    async def _exchange(
        self, script: Script, args: list[Any], *, admitting: bool = False
    ) -> list[Any]:
        store = self._store
        connections = store.connections
        outages = self.link.outages
        async with connections.slot():
            if admitting and self.link.outages != outages:
                # Redis stopped answering while this admission waited for its turn: it
                # goes to the fallback at once instead of timing out too.
                raise StoreUnavailable(f"{self.link.where} is unreachable")
            keys = self._keys[:3] if admitting else self._keys
            try:
                async with asyncio.timeout(store.timeout):
                    reply = await run_script(connections.client(), script, keys, args)
            except asyncio.CancelledError:
                self.link.abandoned()
                raise
            except (KeyboardInterrupt, SystemExit):
                raise
            except TimeoutError as exc:
                raise self.link.failed(f"no answer within {store.timeout:g}s") from exc
            except BaseException as exc:
                # Connection refused or reset, a server that says it is busy or loading: all
                # mean the same here, the shared state cannot decide now.
                raise self.link.failed(str(exc) or type(exc).__name__) from exc
        self.link.answered()
        return reply

    def _released(self, count: int) -> None:
        self.admission.released(count)

    # ------------------------------------------------------------------ the GateState
    def fallback(self) -> tuple[Stage, ...]:
        self.degraded_admissions += 1
        return self._local.stages

    def pause_after(self, call: Call) -> float:
        """How long a failed attempt pauses every process (see `Cooldown.pause_after`)."""
        return self._local.cooldown.pause_after(call)

    def pause(self, until: float) -> None:
        self._local.pause(until)  # validates ``until``, and holds the fallback too
        seconds = until - self._clock.now()
        if seconds > 0:
            self.outbox.add("p", seconds)

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
        self._local.observe_limits(
            now,
            requests_limit=requests_limit,
            requests_remaining=requests_remaining,
            tokens_limit=tokens_limit,
            tokens_remaining=tokens_remaining,
        )
        learned = (
            reported(requests_limit, least=1.0),
            reported(requests_remaining, least=0.0),
            reported(tokens_limit, least=1.0),
            reported(tokens_remaining, least=0.0),
        )
        if any(value is not None for value in learned):
            self.outbox.add("l", *(-1.0 if value is None else value for value in learned))

    def concurrency_ceiling(self) -> int | None:
        return self.lease_limit

    def statistics(self, now: float) -> StateStatistics:
        local = self._local.statistics(now)
        view = self._view
        shared = SharedStatistics(
            store=self.link.where,
            fail=self.fail,
            reachable=self.link.up,
            in_flight=None if view is None else int(view[0]),
            held_here=self.outbox.held,
            breaker_state=None if view is None else _BREAKER_STATES[int(view[1])],
            paused_for=0.0 if view is None else float(view[2]),
            rate_delay=0.0 if view is None else float(view[11]),
            retry_budget=None if self.retry_budget is None else self.retry_budget.balance,
            age=None if view is None else time.monotonic() - self._view_at,
            degraded_admissions=self.degraded_admissions,
            outages=self.link.outages,
            dropped_outcomes=self.outbox.dropped,
            batches_sent=self.outbox.sent,
        )
        return dataclasses.replace(
            local,
            breaker=self._breaker_statistics(local.breaker),
            rate=self._rate_statistics(local.rate),
            concurrency_limit=self.lease_limit,
            waiting=local.waiting + self.admission.waiting,
            paused_for=max(local.paused_for, shared.paused_for),
            shared=shared,
        )

    def _breaker_statistics(self, local: BreakerStatistics | None) -> BreakerStatistics | None:
        view = self._view
        if local is None or view is None:
            return local
        calls = int(view[7])
        state = _BREAKER_STATES[int(view[1])]
        return BreakerStatistics(
            state=state,
            calls_in_window=calls,
            failure_rate=int(view[8]) / calls if calls else 0.0,
            slow_call_rate=int(view[9]) / calls if calls else 0.0,
            times_opened=int(view[10]),
            retry_after=float(view[6]) if state == "open" else None,
        )

    def _rate_statistics(self, local: RateStatistics | None) -> RateStatistics | None:
        view = self._view
        if view is None:
            return local
        ri, ti = float(view[12]), float(view[13])
        if ri <= 0 and ti <= 0:
            return local
        return RateStatistics(
            requests_per_second=1.0 / ri if ri > 0 else None,
            tokens_per_minute=60.0 / ti if ti > 0 else None,
            delay=float(view[11]),
        )

    async def aclose(self) -> None:
        await self.outbox.aclose(self._store.timeout)
        await self._store.release(self)

    def __repr__(self) -> str:
        return f"SharedState({self.spec.name!r}, store={self.link.where})"


def _escape(name: str) -> str:
    """The gate's name inside a hash tag: braces would end the tag early."""
    return name.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def _share(spec: GateSpec, workers: int | None) -> GateSpec:
    """The spec each process enforces on its own while Redis is away: the limits divided by
    the number of processes sharing them, when it is known."""
    if workers is None or workers == 1:
        return spec
    rate = spec.rate
    if rate is not None:
        rate = dataclasses.replace(
            rate,
            rps=None if rate.rps is None else rate.rps / workers,
            rpm=None if rate.rpm is None else rate.rpm / workers,
            tpm=None if rate.tpm is None else rate.tpm / workers,
            token_burst=None if rate.token_burst is None else rate.token_burst / workers,
        )
    concurrency = spec.concurrency
    if isinstance(concurrency, Concurrency):
        concurrency = dataclasses.replace(concurrency, limit=max(1, concurrency.limit // workers))
    return dataclasses.replace(spec, rate=rate, concurrency=concurrency)

"""Assembling a gate: check what `Gate(...)` was given, and wire the kernel that runs it.

Every argument is validated here, with a message that names the parameter, before anything
is built. Then the pieces are put together: the hedger, the executors and the cache are
created, and the kernel receives them with the state store, which opens the gate's state (its
admission stages and retry budget) for it.

    kernel = assemble("llm", concurrency=16, rate=Rate(rpm=600), retry=4, timeout=30.0)
"""

from __future__ import annotations

import os
import random
from typing import Any

from ._cache.runner import CacheRunner
from ._classify import classifier_for
from ._clock import Clock, LoopClock
from ._core.hedging import Hedger
from ._core.kernel import Kernel
from ._core.stage import Stage
from ._core.state import GateSpec, StateStore
from ._errors import ConfigError
from ._executors import Executors, ExecutorSettings
from ._stages.budget import RetryBudgetState
from ._stages.hedge_delay import HedgeDelay
from ._validate import check_int_at_least
from .policies.adaptive import Adaptive, coerce_concurrency
from .policies.breaker import Breaker
from .policies.budget import RetryBudget
from .policies.cache import Cache
from .policies.hedge import Hedge
from .policies.rate import Rate
from .policies.retry import Retry
from .policies.timeout import Timeout
from .stores._local import LocalStore

__all__ = ["assemble"]


def assemble(
    name: str,
    *,
    concurrency: object = None,
    rate: object = None,
    retry: object = None,
    timeout: object = None,
    breaker: object = None,
    hedge: object = None,
    fallback: Any = None,
    cache: object = None,
    threads: object = None,
    processes: object = None,
    clock: object = None,
    seed: int | None = None,
    store: StateStore | None = None,
    classify: object = None,
    shared: object = None,
) -> Kernel:
    """The kernel of a gate with these policies (see `sluice.Gate` for each argument)."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"Gate(name=...) must be a non-empty string, got {name!r}")
    gate_clock = LoopClock() if clock is None else clock
    if not isinstance(gate_clock, Clock):
        raise ConfigError(f"Gate(clock=...) must have now() and sleep(), got {clock!r}")
    limit = coerce_concurrency(concurrency)
    if rate is not None and not isinstance(rate, Rate):
        raise ConfigError(f"Gate(rate=...) must be a sluice.Rate or None, got {rate!r}")
    retry_policy = _coerce_retry(retry)
    timeouts = Timeout.coerce(timeout)  # type: ignore[arg-type]
    if breaker is not None and not isinstance(breaker, Breaker):
        raise ConfigError(f"Gate(breaker=...) must be a sluice.Breaker or None, got {breaker!r}")
    if hedge is not None and not isinstance(hedge, Hedge):
        raise ConfigError(f"Gate(hedge=...) must be a sluice.Hedge or None, got {hedge!r}")
    cache_config = Cache.coerce(cache)  # type: ignore[arg-type]
    classification = classifier_for(classify)
    settings = ExecutorSettings(name, _thread_count(threads, limit), _process_count(processes))

    plain = (
        limit is None
        and rate is None
        and retry_policy is None
        and timeouts is None
        and breaker is None
        and hedge is None
        and cache_config is None
    )
    spec = GateSpec(
        name,
        gate_clock,
        breaker=breaker,
        rate=rate,
        concurrency=limit,
        retry_budget=None if retry_policy is None else retry_policy.budget,
        cooldown=not plain,
        max_pause=None if retry_policy is None else retry_policy.max_retry_after,
        attempt_timeout=None if timeouts is None else timeouts.attempt,
    )
    hedger = None
    observers: tuple[Stage, ...] = ()
    if hedge is not None:
        delay = HedgeDelay(hedge)
        if isinstance(hedge.after, str):
            observers = (delay,)  # learns the percentile from every attempt
        budget = RetryBudgetState(RetryBudget(percent=hedge.budget, min_per_second=0.0))
        hedger = Hedger(hedge, delay=delay, budget=budget, clock=gate_clock)
    return Kernel(
        spec,
        store=_state_store(shared) if store is None else store,
        executors=Executors(settings),
        observers=observers,
        retry=retry_policy,
        rng=random.Random(seed),
        timeout=timeouts,
        hedger=hedger,
        cache=(
            None
            if cache_config is None
            else CacheRunner(cache_config, namespace=name, clock=gate_clock)
        ),
        fallback=fallback,
        classify=classification,
    )


def _state_store(shared: object) -> StateStore:
    """Where the gate keeps its policy state: this process, or a store shared with others."""
    if shared is None:
        return LocalStore()
    if isinstance(shared, str):
        from .stores._redis_state import RedisState

        return RedisState.for_gate(shared)
    if callable(getattr(shared, "open", None)):
        return shared  # type: ignore[return-value]
    raise ConfigError(
        "Gate(shared=...) must be a Redis URL ('redis://host:port/db'), a state store such as "
        f"sluice.stores.RedisState(...), or None; got {shared!r}"
    )


def _coerce_retry(retry: object) -> Retry | None:
    if isinstance(retry, int) and not isinstance(retry, bool):
        return Retry(attempts=retry)
    if retry is not None and not isinstance(retry, Retry):
        raise ConfigError(
            f"Gate(retry=...) must be a sluice.Retry, a number of attempts or None, got {retry!r}"
        )
    return retry


def _thread_count(threads: object, limit: object) -> int:
    if threads is not None:
        return check_int_at_least("Gate", "threads", threads, 1)
    if isinstance(limit, Adaptive):
        return min(limit.max, 64)  # the limit may grow: threads are made on demand
    limit_value = getattr(limit, "limit", None)
    if isinstance(limit_value, int):
        return limit_value
    return min(32, (os.cpu_count() or 1) + 4)


def _process_count(processes: object) -> int | None:
    if processes is None:
        return None
    return check_int_at_least("Gate", "processes", processes, 1)

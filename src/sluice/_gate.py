"""The Gate: a named bundle of policies around calls to one kind of upstream.

This module holds the public surface (construction, `run`, statistics, lifecycle, the sync
facade); the pipeline a call goes through lives in `sluice._engine`.

    gate = Gate("llm", concurrency=64, rate=Rate(rpm=600, burst=10), retry=Retry(attempts=4),
                timeout=30.0, breaker=Breaker())
    answer = await gate.run(ask_model, prompt)
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import random
from collections.abc import Awaitable, Callable, Coroutine
from types import MappingProxyType
from typing import Any, TypeVar, overload

from ._cache_runner import CacheRunner
from ._clock import Clock, LoopClock
from ._engine import Engine
from ._errors import (
    CircuitOpenError,
    ConfigError,
    GateClosedError,
    OverloadedError,
    RejectedError,
)
from ._fanout import FanOut
from ._offload import ASYNC, Executors, call_kind
from ._outcome import CURRENT_COUNT, AttemptCount, Err, Ok
from ._portal import portal
from ._stats import GateStatistics, LatencyRecorder
from ._timers import DeadlineQueue
from ._validate import check_int_at_least
from .policies.adaptive import Adaptive, coerce_concurrency
from .policies.adaptive_limit import AdaptiveLimit
from .policies.breaker import Breaker, CircuitBreaker
from .policies.budget import RetryBudget, RetryBudgetState
from .policies.cache import Cache
from .policies.hedge import Hedge, HedgeDelay
from .policies.limit import Concurrency, ConcurrencyLimiter
from .policies.rate import Rate, RateLimiter
from .policies.retry import Retry
from .policies.timeout import Timeout

__all__ = ["Gate"]

T = TypeVar("T")
logger = logging.getLogger("sluice")


class Gate(FanOut, Engine):
    """Runs calls under concurrency, rate, retry, timeout and circuit-breaker policies.

    Args:
        name: names the gate in errors, logs and statistics.
        concurrency: max calls in flight: an int, a `Concurrency`, an `Adaptive` limit (or
            ``"auto"``) that follows what the upstream can take, or ``None`` (unbounded).
        rate: a `Rate` (requests and/or tokens per unit of time), or ``None``.
        retry: a `Retry`, an int (attempts, with default backoff), or ``None``.
        timeout: a `Timeout`, a number (seconds per attempt), or ``None``.
        breaker: a `Breaker`, or ``None``.
        hedge: a `Hedge` (extra attempts when one is slow), or ``None``.
        fallback: used when a call fails for good: a value, or a callable receiving the error
            (sync or async) whose result is returned instead. ``None``: no fallback.
        cache: a `Cache` (or ``True``, or a TTL in seconds): successful results are stored and
            identical calls in flight share one execution. Fallback answers are never stored.
        threads: size of the pool that runs plain (blocking) functions; default: the
            concurrency limit, or ``min(32, cpus + 4)`` when unbounded.
        processes: size of the pool for `sluice.cpu` functions; default: the CPU count.
        clock: where time comes from; default: the running event loop's clock.
        seed: seeds the jitter of backoff delays, for reproducible runs.
    """

    def __init__(
        self,
        name: str = "gate",
        *,
        concurrency: Concurrency | Adaptive | int | str | None = None,
        rate: Rate | None = None,
        retry: Retry | int | None = None,
        timeout: Timeout | float | None = None,
        breaker: Breaker | None = None,
        hedge: Hedge | None = None,
        fallback: Any = None,
        cache: Cache | float | bool | None = None,
        threads: int | None = None,
        processes: int | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Gate(name=...) must be a non-empty string, got {name!r}")
        self._name = name
        self._clock: Clock = LoopClock() if clock is None else clock
        if not isinstance(self._clock, Clock):
            raise ConfigError(f"Gate(clock=...) must have now() and sleep(), got {clock!r}")
        # With the loop's own clock, deadlines are loop times already and need no conversion.
        self._loop_clock = type(self._clock) is LoopClock

        config = coerce_concurrency(concurrency)
        self._adaptive = None
        if isinstance(config, Adaptive):
            self._adaptive = AdaptiveLimit(config)
            limit: Concurrency | None = config.limiter_config()
        else:
            limit = config
        self._limiter = None if limit is None else ConcurrencyLimiter(limit, gate=name)
        if rate is not None and not isinstance(rate, Rate):
            raise ConfigError(f"Gate(rate=...) must be a sluice.Rate or None, got {rate!r}")
        self._rate = None if rate is None else RateLimiter(rate, clock=self._clock, gate=name)
        if isinstance(retry, int) and not isinstance(retry, bool):
            retry = Retry(attempts=retry)
        if retry is not None and not isinstance(retry, Retry):
            raise ConfigError(
                "Gate(retry=...) must be a sluice.Retry, a number of attempts or None, "
                f"got {retry!r}"
            )
        self._retry = retry
        self._budget = (
            None if retry is None or retry.budget is None else RetryBudgetState(retry.budget)
        )
        self._timeout = Timeout.coerce(timeout)
        self._attempt_timeout = None if self._timeout is None else self._timeout.attempt
        self._total_timeout = None if self._timeout is None else self._timeout.total
        if breaker is not None and not isinstance(breaker, Breaker):
            raise ConfigError(
                f"Gate(breaker=...) must be a sluice.Breaker or None, got {breaker!r}"
            )
        self._breaker = None if breaker is None else CircuitBreaker(breaker, gate=name)
        if hedge is not None and not isinstance(hedge, Hedge):
            raise ConfigError(f"Gate(hedge=...) must be a sluice.Hedge or None, got {hedge!r}")
        self._hedge = hedge
        self._hedge_delay = None if hedge is None else HedgeDelay(hedge)
        self._hedge_budget = (
            None
            if hedge is None
            else RetryBudgetState(RetryBudget(percent=hedge.budget, min_per_second=0.0))
        )
        self._hedges = 0
        self._hedge_wins = 0
        self._fallback = fallback
        self._fallbacks = 0
        cache_config = Cache.coerce(cache)
        self._cache = (
            None
            if cache_config is None
            else CacheRunner(cache_config, namespace=name, clock=self._clock)
        )
        # Attempt latencies are measured only for the policies that learn from them.
        self._observing = self._adaptive is not None or (
            hedge is not None and isinstance(hedge.after, str)
        )

        if threads is None:
            if isinstance(config, Adaptive):
                threads = min(config.max, 64)  # the limit may grow: threads are made on demand
            elif limit is not None:
                threads = limit.limit
            else:
                threads = min(32, (os.cpu_count() or 1) + 4)
        for label, value in (("threads", threads), ("processes", processes)):
            if value is not None:
                check_int_at_least("Gate", label, value, 1)
        self._executors = Executors(name=name, threads=threads, processes=processes)
        self._rng = random.Random(seed)
        self._paused_until = -math.inf
        self._deadlines = DeadlineQueue()
        self._plain = self._has_no_policy()

        self._closed = False
        self._started = 0
        self._succeeded = 0
        self._failed = 0
        self._cancelled = 0
        self._retried = 0
        self._timeouts = 0
        self._active = 0
        self._in_flight = 0
        self._rejected: dict[str, int] = {}
        self._latency = LatencyRecorder()

    # ------------------------------------------------------------------ public surface
    @property
    def name(self) -> str:
        return self._name

    @property
    def closed(self) -> bool:
        return self._closed

    @overload
    async def run(
        self,
        fn: Callable[..., Awaitable[T]],
        /,
        *args: Any,
        tokens: float | None = None,
        fallback: Any = None,
        **kwargs: Any,
    ) -> T: ...

    @overload
    async def run(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        tokens: float | None = None,
        fallback: Any = None,
        **kwargs: Any,
    ) -> T: ...

    async def run(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        tokens: float | None = None,
        fallback: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``fn(*args, **kwargs)`` under the gate's policies and return its result.

        ``fn`` may be an ``async def`` (awaited on the loop), a plain function (run on the
        gate's thread pool) or a `sluice.cpu` function (run on its process pool). ``tokens``
        reserves an estimate on the gate's ``tpm`` budget, settled after the call.
        ``fallback`` overrides the gate's fallback for this call.
        """
        if self._closed:
            self._rejected["closed"] = self._rejected.get("closed", 0) + 1
            raise GateClosedError(f"gate {self._name!r} is closed")
        clock = self._clock
        # Built before the call is counted or can fall back: a key that cannot be built is
        # a programming error (say, unserializable arguments) and must surface as such.
        cache_key = None if self._cache is None else self._cache.key_for(fn, args, kwargs)
        start = clock.now()
        self._started += 1
        self._active += 1
        try:
            if cache_key is not None:
                result = await self._run_cached(cache_key, fn, args, kwargs, tokens)
            elif not self._plain:
                result = await self._pipeline(fn, args, kwargs, tokens, start)
            else:
                # The fast path: no policy, no task, nothing allocated beyond the call.
                kind = call_kind(fn)
                self._in_flight += 1
                if kind == ASYNC:
                    try:
                        result = await fn(*args, **kwargs)
                    finally:
                        self._in_flight -= 1
                else:
                    result = await self._offload(kind, fn, args, kwargs)
        except BaseException as exc:
            self._active -= 1
            self._count_error(exc)
            if fallback is None:
                fallback = self._fallback
            if fallback is None or not isinstance(exc, Exception):
                raise
            self._fallbacks += 1
            return await _fall_back(fallback, exc)
        self._active -= 1
        self._succeeded += 1
        self._latency.record(clock.now() - start)
        return result

    def _run_cached(
        self, key: str, fn: Callable[..., Any], args: Any, kwargs: Any, tokens: float | None
    ) -> Coroutine[Any, Any, Any]:
        # Outermost: a hit skips every policy; a miss runs the pipeline once for all identical
        # calls in flight, starting when the shared execution starts. (Kept out of `run`: a
        # closure there would turn its locals into cells and slow every call down.)
        assert self._cache is not None
        return self._cache.run_keyed(
            key, lambda: self._pipeline(fn, args, kwargs, tokens, self._clock.now())
        )

    @overload
    async def run_outcome(
        self,
        fn: Callable[..., Awaitable[T]],
        /,
        *args: Any,
        tokens: float | None = None,
        fallback: Any = None,
        **kwargs: Any,
    ) -> Ok[T] | Err: ...

    @overload
    async def run_outcome(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        tokens: float | None = None,
        fallback: Any = None,
        **kwargs: Any,
    ) -> Ok[T] | Err: ...

    async def run_outcome(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        tokens: float | None = None,
        fallback: Any = None,
        **kwargs: Any,
    ) -> Ok[Any] | Err:
        """Like `run`, but return `Ok` or `Err` instead of raising (cancellation still
        propagates), with the number of attempts made and the time taken.

            outcome = await gate.run_outcome(fetch, url)
            print(outcome.ok, outcome.attempts, outcome.elapsed)
        """
        count = AttemptCount(self)
        token = CURRENT_COUNT.set(count)
        start = self._now_anywhere()
        try:
            value = await self.run(fn, *args, tokens=tokens, fallback=fallback, **kwargs)
        except Exception as exc:
            return Err(exc, attempts=count.count, elapsed=self._now_anywhere() - start)
        finally:
            CURRENT_COUNT.reset(token)
        return Ok(value, attempts=count.count, elapsed=self._now_anywhere() - start)

    def run_sync(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`run` from synchronous code: executes on sluice's background event loop."""
        return portal.call(self.run, fn, *args, **kwargs)

    @overload
    def wrap(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]: ...

    @overload
    def wrap(self, fn: Callable[..., T]) -> Callable[..., Awaitable[T]]: ...

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        """Decorate ``fn`` so every call goes through this gate.

        @gate.wrap
        async def ask(prompt: str) -> str: ...
        """

        async def gated(*args: Any, **kwargs: Any) -> Any:
            return await self.run(fn, *args, **kwargs)

        gated.__name__ = getattr(fn, "__name__", "gated")
        gated.__qualname__ = getattr(fn, "__qualname__", "gated")
        gated.__doc__ = getattr(fn, "__doc__", None)
        gated.__wrapped__ = fn  # type: ignore[attr-defined]
        return gated

    def observe_limits(
        self,
        *,
        requests_limit: float | None = None,
        requests_remaining: float | None = None,
        requests_reset: float | None = None,
        tokens_limit: float | None = None,
        tokens_remaining: float | None = None,
        tokens_reset: float | None = None,
    ) -> None:
        """Adjust the rate limits to what the upstream reports (per-minute budgets).

        Typically fed from ``x-ratelimit-*`` response headers. Without a configured rate the
        gate learns one; with one configured too high it tightens to the upstream's; a
        configured rate lower than the upstream's is kept. When nothing remains, new
        attempts wait for the reported reset.
        """
        now = self._now_anywhere()
        if self._rate is None:
            if requests_limit is None and tokens_limit is None:
                return
            self._rate = RateLimiter(None, clock=self._clock, gate=self._name)
            self._plain = False
        self._rate.observe(
            now,
            requests_limit=requests_limit,
            requests_remaining=requests_remaining,
            tokens_limit=tokens_limit,
            tokens_remaining=tokens_remaining,
        )
        for remaining, reset in (
            (requests_remaining, requests_reset),
            (tokens_remaining, tokens_reset),
        ):
            if remaining is not None and remaining <= 0 and reset is not None:
                self.pause(reset)

    def statistics(self) -> GateStatistics:
        """A frozen snapshot of counters, limiter state, breaker state and latency."""
        now = self._now_anywhere()
        limiter = self._limiter
        return GateStatistics(
            name=self._name,
            calls_started=self._started,
            succeeded=self._succeeded,
            failed=self._failed,
            cancelled=self._cancelled,
            rejected=MappingProxyType(dict(self._rejected)),
            retried=self._retried,
            timeouts=self._timeouts,
            active=self._active,
            in_flight=self._in_flight,
            waiting=0 if limiter is None else limiter.waiting,
            concurrency_limit=None if limiter is None else limiter.limit,
            breaker=None if self._breaker is None else self._breaker.statistics(now),
            rate=None if self._rate is None else self._rate.statistics(now),
            latency=self._latency.summary(),
            paused_for=max(0.0, self._paused_until - now),
            hedges=self._hedges,
            hedge_wins=self._hedge_wins,
            fallbacks=self._fallbacks,
            cache=None if self._cache is None else self._cache.statistics(),
            adaptive=None if self._adaptive is None else self._adaptive.statistics(),
        )

    async def __aenter__(self) -> Gate:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Refuse new calls and wait for offloaded work to finish (bound it with
        `asyncio.timeout` if a blocking call might never return).

        Calls already running on the event loop belong to their callers and are not touched;
        threads and processes of this gate are stopped once their current job ends.
        """
        self._closed = True
        if self._cache is not None:
            await self._cache.aclose()
        await self._executors.aclose()

    def close(self) -> None:
        """Synchronous `aclose`: refuse new calls, block until offloaded work has finished."""
        self._closed = True
        if self._cache is not None:
            self._cache.close()
        self._executors.shutdown(wait=True)

    def __repr__(self) -> str:
        policies = [
            f"{label}={value!r}"
            for label, value in (
                ("concurrency", None if self._limiter is None else self._limiter.limit),
                ("retry", self._retry),
                ("timeout", self._timeout),
                ("breaker", None if self._breaker is None else self._breaker.config),
            )
            if value is not None
        ]
        if self._rate is not None:
            policies.append("rate=...")
        return f"Gate({self._name!r}{''.join(', ' + p for p in policies)})"

    def _count_error(self, exc: BaseException) -> None:
        if isinstance(exc, asyncio.CancelledError):
            self._cancelled += 1
        elif isinstance(exc, RejectedError):
            if isinstance(exc, CircuitOpenError):
                reason = "circuit_open"
            elif isinstance(exc, OverloadedError):
                reason = exc.reason
            else:
                reason = "rejected"
            self._rejected[reason] = self._rejected.get(reason, 0) + 1
        else:
            self._failed += 1

    def _has_no_policy(self) -> bool:
        return (
            self._limiter is None
            and self._rate is None
            and self._retry is None
            and self._timeout is None
            and self._breaker is None
            and self._hedge is None
            and self._cache is None
        )


async def _fall_back(fallback: Any, exc: Exception) -> Any:
    """The fallback's answer for ``exc``: a callable is called with it (and awaited if it
    returns an awaitable); anything else is the answer itself."""
    if not callable(fallback):
        return fallback
    answer = fallback(exc)
    if inspect.isawaitable(answer):
        answer = await answer
    return answer

"""The Gate: a named bundle of policies around calls to one kind of upstream.

This module is the public face only: construction (`sluice._assembly` checks the arguments and
wires the kernel), the run family, fan-out, statistics and lifecycle. Every call is run by the
gate's kernel (`sluice._core.kernel`); many at once by its fan-out helper (`sluice._fanout`).

    gate = Gate("llm", concurrency=64, rate=Rate(rpm=600, burst=10), retry=Retry(attempts=4),
                timeout=30.0, breaker=Breaker())
    answer = await gate.run(ask_model, prompt)
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Hashable, Iterable
from typing import Any, Literal, TypeVar, Union, overload

from ._assembly import assemble
from ._classify import Classifier
from ._clock import Clock, now_anywhere
from ._core.call import Call
from ._core.state import StateStatistics, StateStore
from ._executors.portal import portal
from ._fanout.broadcast import BroadcastResult
from ._fanout.fanout import FanOut
from ._fanout.stream import Stream
from ._options import CallOptions, Tokens
from ._outcome import Err, Ok
from ._registry import register
from ._stats import GateStatistics
from .policies.adaptive import Adaptive
from .policies.breaker import Breaker
from .policies.cache import Cache
from .policies.hedge import Hedge
from .policies.limit import Concurrency
from .policies.rate import Rate
from .policies.retry import Retry
from .policies.timeout import Timeout

__all__ = ["Gate"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
X = TypeVar("X")
Items = Union[Iterable[X], AsyncIterable[X]]  # noqa: UP007 - a generic alias needs Union here


class Gate:
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
        classify: ``(exc) -> ErrorInfo | None``, consulted first for every failed attempt:
            an `ErrorInfo` decides whether it retries, counts for the breaker, signals load
            and asks for a wait; ``None`` leaves the error to `classify_error`, which reads
            the status, headers and kind of common client libraries' errors.
        shared: share the limits with every process and host that runs a gate of this
            name: a Redis URL (``"redis://host:6379/0"``), or a state store such as
            `sluice.stores.RedisState` (your own client, TLS, fail mode, workers). ``None``:
            the limits hold in this process only.

    A gate is a facade: its kernel (`sluice._core.kernel.Kernel`) runs every call through the
    policies, and its fan-out helper (`sluice._fanout.FanOut`) runs many at once.
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
        classify: Classifier | None = None,
        shared: str | StateStore | None = None,
    ) -> None:
        self._kernel = assemble(
            name,
            concurrency=concurrency,
            rate=rate,
            retry=retry,
            timeout=timeout,
            breaker=breaker,
            hedge=hedge,
            fallback=fallback,
            cache=cache,
            threads=threads,
            processes=processes,
            clock=clock,
            seed=seed,
            classify=classify,
            shared=shared,
        )
        self._fanout = FanOut(self._kernel)
        register(self)  # weakly, for observers such as sluice.observe's metrics

    # ------------------------------------------------------------------ public surface
    @property
    def name(self) -> str:
        return self._kernel.name

    @property
    def closed(self) -> bool:
        return self._kernel.closed

    @overload
    async def run(
        self,
        fn: Callable[..., Awaitable[T]],
        /,
        *args: Any,
        tokens: Tokens = None,
        fallback: Any = None,
        **kwargs: Any,
    ) -> T: ...

    @overload
    async def run(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        tokens: Tokens = None,
        fallback: Any = None,
        **kwargs: Any,
    ) -> T: ...

    async def run(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        tokens: Tokens = None,
        fallback: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``fn(*args, **kwargs)`` under the gate's policies and return its result.

        ``fn`` may be an ``async def`` (awaited on the loop), a plain function (run on the
        gate's thread pool) or a `sluice.cpu` function (run on its process pool). ``tokens``
        reserves an estimate on the gate's ``tpm`` budget, settled after the call: a number,
        or a function computing one (called only when the gate meters tokens). ``fallback``
        overrides the gate's fallback for this call.
        """
        return await self._kernel.run(Call(fn, args, kwargs, tokens), fallback)

    @overload
    async def run_outcome(
        self,
        fn: Callable[..., Awaitable[T]],
        /,
        *args: Any,
        tokens: Tokens = None,
        fallback: Any = None,
        **kwargs: Any,
    ) -> Ok[T] | Err: ...

    @overload
    async def run_outcome(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        tokens: Tokens = None,
        fallback: Any = None,
        **kwargs: Any,
    ) -> Ok[T] | Err: ...

    async def run_outcome(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        tokens: Tokens = None,
        fallback: Any = None,
        **kwargs: Any,
    ) -> Ok[Any] | Err:
        """Like `run`, but return `Ok` or `Err` instead of raising (cancellation still
        propagates), with the number of attempts made and the time taken.

            outcome = await gate.run_outcome(fetch, url)
            print(outcome.ok, outcome.attempts, outcome.elapsed)
        """
        return await self._kernel.run_outcome(Call(fn, args, kwargs, tokens), fallback)

    def options(
        self,
        *,
        timeout: Timeout | float | None = None,
        tokens: Tokens = None,
        fallback: Any = None,
    ) -> CallOptions:
        """This gate, with settings for the calls made through what it returns: ``timeout``
        replaces the gate's `Timeout` (a number is seconds per attempt), ``tokens`` is the
        estimate each call reserves, ``fallback`` replaces the gate's. Every keyword given to
        its ``run`` goes to the function, so nothing clashes with the function's own.

            options = gate.options(timeout=Timeout(attempt=2.0, total=5.0))
            page = await options.run(requests.get, url, timeout=1.5)   # requests' timeout
        """
        limits = Timeout.coerce(timeout, owner="gate.options")
        return CallOptions(self._kernel, timeout=limits, tokens=tokens, fallback=fallback)

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

    # ---------------------------------------------------------------- map
    @overload
    async def map(
        self,
        fn: Callable[[X], Awaitable[T]],
        items: Items[X],
        *,
        ordered: bool = True,
        errors: Literal["raise"] = "raise",
        window: int | None = None,
    ) -> list[T]: ...
    @overload
    async def map(
        self,
        fn: Callable[[X], Awaitable[T]],
        items: Items[X],
        *,
        ordered: bool = True,
        errors: Literal["return"],
        window: int | None = None,
    ) -> list[Ok[T] | Err]: ...
    @overload
    async def map(
        self,
        fn: Callable[[X], T],
        items: Items[X],
        *,
        ordered: bool = True,
        errors: Literal["raise"] = "raise",
        window: int | None = None,
    ) -> list[T]: ...
    @overload
    async def map(
        self,
        fn: Callable[[X], T],
        items: Items[X],
        *,
        ordered: bool = True,
        errors: Literal["return"],
        window: int | None = None,
    ) -> list[Ok[T] | Err]: ...

    async def map(
        self,
        fn: Callable[[Any], Any],
        items: Items[Any],
        *,
        ordered: bool = True,
        errors: Literal["raise", "return"] = "raise",
        window: int | None = None,
    ) -> list[Any]:
        """Call ``fn(item)`` for every item through the gate; return the results.

        Results come in input order (``ordered=False``: in completion order). On the first
        failure the calls still running are cancelled and that error is raised, with a note
        saying which item failed and ``sluice_other_errors`` ({index: error}) holding any
        other item that failed while stopping. ``errors="return"`` never raises for an item:
        it returns `Ok` / `Err` outcomes with attempts and elapsed time. ``window`` caps the
        calls in flight (default: the gate's concurrency limit, else 100).

            pages = await gate.map(fetch, urls)
        """
        return await self._fanout.map("gate.map", fn, items, ordered, errors, window)

    # ---------------------------------------------------------------- stream
    @overload
    def stream(
        self,
        fn: Callable[[X], Awaitable[T]],
        items: Items[X],
        *,
        ordered: bool = False,
        window: int | None = None,
    ) -> Stream[T]: ...
    @overload
    def stream(
        self,
        fn: Callable[[X], T],
        items: Items[X],
        *,
        ordered: bool = False,
        window: int | None = None,
    ) -> Stream[T]: ...

    def stream(
        self,
        fn: Callable[[Any], Any],
        items: Items[Any],
        *,
        ordered: bool = False,
        window: int | None = None,
    ) -> Stream[Any]:
        """Yield ``(index, Ok | Err)`` for every item as calls complete (``ordered=True``: in
        input order, holding back only results that must wait for an earlier one).

        The input is pulled lazily: at most ``window`` items (default: the gate's concurrency
        limit, else 100) are running or waiting for the consumer, whatever the input's size.
        Nothing starts until the first iteration. Use ``async with`` so the workers stop
        when the block ends, however it ends:

            async with gate.stream(fetch, urls) as results:
                async for index, outcome in results: ...
        """
        return self._fanout.stream("gate.stream", fn, items, ordered, window)

    # ---------------------------------------------------------------- broadcast / race
    @overload
    async def broadcast(
        self,
        fn: Callable[[K], Awaitable[T]],
        targets: Iterable[K],
        *,
        quorum: int | None = None,
        deadline: float | None = None,
        cancel_rest: bool = True,
    ) -> BroadcastResult[K, T]: ...
    @overload
    async def broadcast(
        self,
        fn: Callable[[K], T],
        targets: Iterable[K],
        *,
        quorum: int | None = None,
        deadline: float | None = None,
        cancel_rest: bool = True,
    ) -> BroadcastResult[K, T]: ...

    async def broadcast(
        self,
        fn: Callable[[Any], Any],
        targets: Iterable[Any],
        *,
        quorum: int | None = None,
        deadline: float | None = None,
        cancel_rest: bool = True,
    ) -> BroadcastResult[Any, Any]:
        """Call ``fn(target)`` for every target at once; each failure stays its own.

        Returns a `BroadcastResult` keyed by target (targets must be hashable and distinct).
        With ``quorum=k`` it returns as soon as k targets succeeded, or as soon as k can no
        longer be reached; the unfinished calls are cancelled, or with ``cancel_rest=False``
        keep running and ``result.rest`` resolves to the final result. With ``deadline``
        (seconds) the targets unfinished by then are cancelled and fail with
        `DeadlineExceeded`; the deadline also bounds calls left running after a quorum.

            result = await gate.broadcast(replicate, peers, quorum=2, deadline=2.0)
        """
        return await self._fanout.broadcast(
            "gate.broadcast", fn, targets, quorum, deadline, cancel_rest
        )

    @overload
    async def race(
        self,
        fn: Callable[[X], Awaitable[T]],
        targets: Iterable[X],
        *,
        deadline: float | None = None,
    ) -> T: ...
    @overload
    async def race(
        self, fn: Callable[[X], T], targets: Iterable[X], *, deadline: float | None = None
    ) -> T: ...

    async def race(
        self, fn: Callable[[Any], Any], targets: Iterable[Any], *, deadline: float | None = None
    ) -> Any:
        """Call ``fn(target)`` for every target at once; return the first success and cancel
        the rest. If every target fails (or the ``deadline`` passes first), raise
        `AllFailedError`, an exception group with one error per target in target order.

            answer = await gate.race(ask, [primary, secondary])
        """
        return await self._fanout.race("gate.race", fn, targets, deadline)

    # ---------------------------------------------------------------- sync twins
    @overload
    def map_sync(
        self,
        fn: Callable[[X], Awaitable[T]],
        items: Iterable[X],
        *,
        ordered: bool = True,
        errors: Literal["raise"] = "raise",
        window: int | None = None,
    ) -> list[T]: ...
    @overload
    def map_sync(
        self,
        fn: Callable[[X], Awaitable[T]],
        items: Iterable[X],
        *,
        ordered: bool = True,
        errors: Literal["return"],
        window: int | None = None,
    ) -> list[Ok[T] | Err]: ...
    @overload
    def map_sync(
        self,
        fn: Callable[[X], T],
        items: Iterable[X],
        *,
        ordered: bool = True,
        errors: Literal["raise"] = "raise",
        window: int | None = None,
    ) -> list[T]: ...
    @overload
    def map_sync(
        self,
        fn: Callable[[X], T],
        items: Iterable[X],
        *,
        ordered: bool = True,
        errors: Literal["return"],
        window: int | None = None,
    ) -> list[Ok[T] | Err]: ...

    def map_sync(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        ordered: bool = True,
        errors: Literal["raise", "return"] = "raise",
        window: int | None = None,
    ) -> list[Any]:
        """`map` from synchronous code (runs on sluice's background loop; plain functions
        run on the gate's thread pool).

            pages = gate.map_sync(fetch, urls)
        """
        return portal.call(self._fanout.map, "gate.map_sync", fn, items, ordered, errors, window)

    @overload
    def broadcast_sync(
        self,
        fn: Callable[[K], Awaitable[T]],
        targets: Iterable[K],
        *,
        quorum: int | None = None,
        deadline: float | None = None,
        cancel_rest: bool = True,
    ) -> BroadcastResult[K, T]: ...
    @overload
    def broadcast_sync(
        self,
        fn: Callable[[K], T],
        targets: Iterable[K],
        *,
        quorum: int | None = None,
        deadline: float | None = None,
        cancel_rest: bool = True,
    ) -> BroadcastResult[K, T]: ...

    def broadcast_sync(
        self,
        fn: Callable[[Any], Any],
        targets: Iterable[Any],
        *,
        quorum: int | None = None,
        deadline: float | None = None,
        cancel_rest: bool = True,
    ) -> BroadcastResult[Any, Any]:
        """`broadcast` from synchronous code (runs on sluice's background loop)."""
        return portal.call(
            self._fanout.broadcast,
            "gate.broadcast_sync",
            fn,
            targets,
            quorum,
            deadline,
            cancel_rest,
        )

    @overload
    def race_sync(
        self,
        fn: Callable[[X], Awaitable[T]],
        targets: Iterable[X],
        *,
        deadline: float | None = None,
    ) -> T: ...
    @overload
    def race_sync(
        self, fn: Callable[[X], T], targets: Iterable[X], *, deadline: float | None = None
    ) -> T: ...

    def race_sync(
        self, fn: Callable[[Any], Any], targets: Iterable[Any], *, deadline: float | None = None
    ) -> Any:
        """`race` from synchronous code (runs on sluice's background loop)."""
        return portal.call(self._fanout.race, "gate.race_sync", fn, targets, deadline)

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
        configured rate lower than the upstream's is kept. When nothing remains, the learned
        bucket is empty and new attempts are paced at its refill rate (never held until the
        reported reset, which is when the bucket would be full again).
        """
        self._kernel.observe_limits(
            requests_limit=requests_limit,
            requests_remaining=requests_remaining,
            requests_reset=requests_reset,
            tokens_limit=tokens_limit,
            tokens_remaining=tokens_remaining,
            tokens_reset=tokens_reset,
        )

    def pause(self, seconds: float) -> None:
        """Hold every new attempt for ``seconds`` (a shared cooldown; calls already running
        are not touched). Called automatically when an attempt fails with an error that is
        ``overloaded`` and carries ``retry_after`` (a 503, or a 429 once the upstream's quota
        is spent: a 429 while its budgets have room left only delays that call's retry).
        Every pause is capped at the retry policy's ``max_retry_after`` (120 s without one);
        a caller whose deadline comes first fails at once with `DeadlineExceeded` carrying
        ``retry_after``. ``seconds`` must be a finite number >= 0."""
        self._kernel.pause(seconds)

    def statistics(self) -> GateStatistics:
        """A frozen snapshot of counters, limiter state, breaker state and latency."""
        return self._kernel.statistics()

    def admission(self) -> StateStatistics:
        """What would meet a new call now (breaker, pause, rate delay, permits, the shared
        state), without the counters and latency percentiles of `statistics`: cheap enough
        to ask on every request, as load shedding does.

            if gate.admission().paused_for > 0: ...
        """
        return self._kernel.admission()

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
        await self._kernel.aclose()

    def close(self) -> None:
        """Synchronous `aclose`: refuse new calls, block until offloaded work has finished."""
        self._kernel.close()

    def __repr__(self) -> str:
        kernel = self._kernel
        state = kernel.state.statistics(now_anywhere(kernel.clock))
        policies = [
            f"{label}={value!r}"
            for label, value in (
                ("concurrency", state.concurrency_limit),
                ("retry", None if kernel.retrying is None else kernel.retrying.policy),
                ("timeout", kernel.timeout),
                ("breaker", kernel.spec.breaker),
            )
            if value is not None
        ]
        if state.rate is not None:
            policies.append("rate=...")
        return f"Gate({kernel.name!r}{''.join(', ' + p for p in policies)})"

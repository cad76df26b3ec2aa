"""Fan-out on a Gate: `map`, `stream`, `broadcast` and `race`, plus their sync twins.

Every item is one `Gate.run` (or `Gate.run_outcome`), so the gate's concurrency limit, rate
limits, retries, timeouts and breaker apply per item. `map` and `stream` run a fixed pool of
long-lived workers that pull from the input lazily (a list, a generator or an async
iterator): no task per item, and nothing pulled long before it can run. There are never more
workers than the gate has permits, so on an otherwise idle gate no worker queues for one.

    results = await gate.map(embed, chunks)                       # input order; raises
    outcomes = await gate.map(embed, chunks, errors="return")     # Ok / Err per item
    async with gate.stream(embed, lines()) as results:            # as they complete
        async for index, outcome in results: ...
    result = await gate.broadcast(ping, peers, quorum=2, deadline=1.0)
    fastest = await gate.race(lookup, replicas)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Hashable, Iterable, Sized
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, overload

from ._broadcast import AllFailedError, BroadcastResult, fan_out, keys_of, settle
from ._clock import Clock
from ._errors import ConfigError
from ._map import MapJob, check_errors, check_fn, check_quorum, listed_targets
from ._outcome import Err, Ok
from ._portal import portal
from ._stream import Stream, open_source
from ._validate import check_int_at_least, check_positive
from .policies.limit import ConcurrencyLimiter

__all__ = ["DEFAULT_WINDOW", "FanOut"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
X = TypeVar("X")
Items = Union[Iterable[X], AsyncIterable[X]]  # noqa: UP007 - a generic alias needs Union here

DEFAULT_WINDOW = 100
"""Items in flight when the gate has no fixed concurrency limit and no ``window=`` is given."""


class FanOut:
    """The fan-out methods of `Gate` (a mixin: it relies on the gate's `run` and limiter)."""

    _name: str
    _clock: Clock
    _limiter: ConcurrencyLimiter | None

    if TYPE_CHECKING:

        async def run(
            self, fn: Callable[..., Any], /, *args: Any, tokens: float | None = None, **kw: Any
        ) -> Any: ...

        async def run_outcome(
            self, fn: Callable[..., Any], /, *args: Any, tokens: float | None = None, **kw: Any
        ) -> Ok[Any] | Err: ...

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
        return await self._map("gate.map", fn, items, ordered, errors, window)

    async def _map(
        self,
        owner: str,
        fn: Callable[[Any], Any],
        items: Items[Any],
        ordered: bool,
        errors: str,
        window: int | None,
    ) -> list[Any]:
        check_fn(owner, fn)
        returning = check_errors(owner, errors)
        _, workers = self._plan(owner, window, items)
        sync, source = open_source(owner, items)
        job = MapJob(self.run_outcome if returning else self.run, fn, ordered, sync, source)
        if workers:
            async with asyncio.TaskGroup() as group:
                job.tasks = [group.create_task(job.work()) for _ in range(workers)]
        if job.error is not None:
            raise job.failure(owner, self._name)
        return job.results

    def _plan(self, owner: str, window: int | None, items: object) -> tuple[int, int]:
        """``(window, workers)``: workers never exceed the gate's permits nor a known length."""
        limit = self._fanout_limit()
        if window is None:
            window = DEFAULT_WINDOW if limit is None else limit
        else:
            check_int_at_least(owner, "window", window, 1)
        workers = window if limit is None else min(window, limit)
        if isinstance(items, Sized):
            workers = min(workers, len(items))
        return window, workers

    def _fanout_limit(self) -> int | None:
        """The most calls the gate lets run at once (``None``: unbounded); fan-out starts no
        more workers than this, so on an idle gate no worker waits for a permit."""
        adaptive = getattr(self, "_adaptive", None)
        if adaptive is not None:
            # The limit will move: enough workers to use all it may grow to (the ones beyond
            # the current limit wait for permits, which is where growth is measured).
            return int(adaptive.config.max)
        return None if self._limiter is None else self._limiter.limit

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
        owner = "gate.stream"
        check_fn(owner, fn)
        window, workers = self._plan(owner, window, items)
        source = open_source(owner, items)
        return Stream(self.run_outcome, fn, source, ordered=ordered, window=window, workers=workers)

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
        return await self._broadcast("gate.broadcast", fn, targets, quorum, deadline, cancel_rest)

    async def _broadcast(
        self,
        owner: str,
        fn: Callable[[Any], Any],
        targets: Iterable[Any],
        quorum: int | None,
        deadline: float | None,
        cancel_rest: bool,
    ) -> BroadcastResult[Any, Any]:
        check_fn(owner, fn)
        listed = listed_targets(owner, targets)
        keys_of(owner, listed)
        need = check_quorum(owner, quorum, len(listed))
        seconds = None if deadline is None else check_positive(owner, "deadline", deadline)
        fan = await fan_out(
            self.run, self._name, self._clock.now(), fn, listed, quorum=need, seconds=seconds
        )
        if fan.open and not cancel_rest:
            fan.detach(asyncio.get_running_loop())
            return fan.snapshot()
        result = fan.snapshot(cancelled=True)
        await settle(fan.stop())
        return result

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
        return await self._race("gate.race", fn, targets, deadline)

    async def _race(
        self,
        owner: str,
        fn: Callable[[Any], Any],
        targets: Iterable[Any],
        deadline: float | None,
    ) -> Any:
        check_fn(owner, fn)
        listed = listed_targets(owner, targets)
        if not listed:
            raise ConfigError(f"{owner}(targets=...) must hold at least one target, got none")
        seconds = None if deadline is None else check_positive(owner, "deadline", deadline)
        fan = await fan_out(
            self.run, self._name, self._clock.now(), fn, listed, quorum=1, seconds=seconds
        )
        await settle(fan.stop())
        if fan.values:
            return next(iter(fan.values.values()))  # the first to settle
        errors = [fan.errors[position] for position in range(len(listed))]
        raise AllFailedError(f"gate {self._name!r}: all {len(listed)} target(s) failed", errors)

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
        return portal.call(self._map, "gate.map_sync", fn, items, ordered, errors, window)

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
            self._broadcast, "gate.broadcast_sync", fn, targets, quorum, deadline, cancel_rest
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
        return portal.call(self._race, "gate.race_sync", fn, targets, deadline)

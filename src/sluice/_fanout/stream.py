"""`Gate.stream`: outcomes of a lazily pulled input, as they complete, with bounded memory.

A fixed pool of long-lived workers pulls items from the input one at a time (a list, a
generator or an async iterator) and runs each through the gate. Two bounds hold at all times:

- at most ``workers`` calls run at once (never more than the gate's concurrency limit);
- at most ``window`` items are pulled and not yet handed to the consumer (running or buffered),
  so a slow consumer stops the pulling instead of growing a buffer, and an ordered stream never
  runs more than ``window`` items ahead of the oldest one it still waits for.

A worker needs a *credit* to pull; the consumer returns one each time it takes a result. The
state the workers share lives in `_Pump`; the `Stream` handle the caller holds owns it, so
dropping the handle (``break`` out of a bare ``async for``) cancels the workers at once.

    async with gate.stream(fetch, urls) as results:
        async for index, outcome in results:
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

from .._outcome import Err, Ok

__all__ = ["AsyncSource", "Source", "Stream", "open_source"]

T = TypeVar("T")


class AsyncSource:
    """An async iterator shared by several workers: one ``anext`` at a time (an async generator
    refuses a second concurrent one), items numbered in the order they were pulled. Once
    `stopped` (the input ended, or its consumer gave up) it yields nothing more."""

    __slots__ = ("_iterator", "_lock", "_pulled", "stopped")

    def __init__(self, iterator: AsyncIterator[Any]) -> None:
        self._iterator = iterator
        self._lock = asyncio.Lock()
        self._pulled = 0
        self.stopped = False

    async def pull(self) -> tuple[int, Any] | None:
        """The next ``(index, item)``, or ``None`` at the end."""
        async with self._lock:
            if self.stopped:  # checked under the lock: a worker may have waited for it
                return None
            try:
                item = await anext(self._iterator)
            except StopAsyncIteration:
                self.stopped = True
                return None
            index = self._pulled
            self._pulled += 1
            return index, item


Source = tuple[Iterator[tuple[int, Any]] | None, AsyncSource | None]


def open_source(owner: str, items: object) -> Source:
    """``(numbered sync iterator, None)`` or ``(None, AsyncSource)`` over ``items``."""
    if hasattr(type(items), "__aiter__"):
        return None, AsyncSource(aiter(items))  # type: ignore[arg-type]
    try:
        iterator = iter(items)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(
            f"{owner}(items=...) must be an iterable (a list, a generator, ...) or an async "
            f"iterable, got {type(items).__name__}"
        ) from None
    return enumerate(iterator), None


class _Pump(Generic[T]):
    """The workers' shared state: source, credits, results not yet taken."""

    __slots__ = (
        "_async",
        "_credits",
        "_exhausted",
        "_fn",
        "_loop",
        "_next",
        "_run",
        "_sync",
        "_waiter",
        "done",
        "error",
        "held",
        "live",
        "ordered",
        "parked",
        "running",
        "tasks",
    )

    def __init__(
        self,
        run: Callable[[Any, Any], Awaitable[Ok[T] | Err]],
        fn: Any,
        source: Source,
        ordered: bool,
        window: int,
    ) -> None:
        self._run = run
        self._fn = fn
        self._sync, self._async = source
        self.ordered = ordered
        self._credits = window
        self.parked: deque[asyncio.Future[None]] = deque()
        self.done: deque[tuple[int, Ok[T] | Err]] = deque()  # unordered: completion order
        self.held: dict[int, Ok[T] | Err] = {}  # ordered: waiting for their turn
        self._next = 0
        self._exhausted = False
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.error: Exception | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.live = 0
        self.running = 0

    def start(self, workers: int) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self.live = workers
        self.tasks = [loop.create_task(self._work()) for _ in range(workers)]

    # ---------------------------------------------------------------- consumer side
    def take(self) -> tuple[int, Ok[T] | Err] | None:
        """The next result if one may be handed out now; returns the credit it held."""
        if self.ordered:
            outcome = self.held.pop(self._next, None)
            if outcome is None:
                return None
            pair = (self._next, outcome)
            self._next += 1
        elif self.done:
            pair = self.done.popleft()
        else:
            return None
        parked = self.parked
        while parked:
            worker = parked.popleft()
            if not worker.done():
                worker.set_result(None)  # the credit goes straight to a waiting worker
                return pair
        self._credits += 1
        return pair

    async def wait(self) -> None:
        assert self._loop is not None
        if self._waiter is not None:
            raise RuntimeError("a gate.stream is being iterated by another task already")
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def cancel(self) -> list[asyncio.Task[None]]:
        pending = [task for task in self.tasks if not task.done()]
        for task in pending:
            task.cancel()
        self.done.clear()
        self.held.clear()
        return pending

    # ---------------------------------------------------------------- worker side
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _stop_pulling(self) -> None:
        self._exhausted = True
        if self._async is not None:
            self._async.stopped = True
        while self.parked:
            worker = self.parked.popleft()
            if not worker.done():
                worker.set_result(None)

    async def _work(self) -> None:
        run, fn, ordered = self._run, self._fn, self.ordered
        try:
            while True:
                if self._credits:
                    self._credits -= 1
                else:
                    assert self._loop is not None
                    credit = self._loop.create_future()
                    self.parked.append(credit)
                    await credit
                if self._exhausted:
                    return
                try:
                    pulled = self._pull_sync() if self._async is None else await self._async.pull()
                except Exception as exc:  # the input itself failed: it ends the stream
                    if self.error is None:
                        self.error = exc
                    self._stop_pulling()
                    return
                if pulled is None:
                    self._stop_pulling()
                    return
                index, item = pulled
                self.running += 1
                try:
                    outcome = await run(fn, item)
                finally:
                    self.running -= 1
                if ordered:
                    self.held[index] = outcome
                    if index == self._next:
                        self._wake()
                else:
                    self.done.append((index, outcome))
                    self._wake()
        finally:
            self.live -= 1
            if not self.live:
                self._wake()

    def _pull_sync(self) -> tuple[int, Any] | None:
        assert self._sync is not None
        if self._exhausted:
            return None
        return next(self._sync, None)


class Stream(Generic[T]):
    """Async iterator of ``(index, Ok | Err)`` from `Gate.stream`; also an async context
    manager. Leaving the ``async with`` block, `aclose`, or dropping the object stops the
    workers (calls in flight are cancelled).
    """

    __slots__ = ("__weakref__", "_closed", "_pump", "_workers")

    def __init__(
        self,
        run: Callable[[Any, Any], Awaitable[Ok[T] | Err]],
        fn: Any,
        source: Source,
        *,
        ordered: bool,
        window: int,
        workers: int,
    ) -> None:
        self._pump: _Pump[T] = _Pump(run, fn, source, ordered, window)
        self._workers = workers
        self._closed = False

    @property
    def buffered(self) -> int:
        """Results finished but not yet taken by the consumer."""
        return len(self._pump.held) + len(self._pump.done)

    @property
    def running(self) -> int:
        """Items being processed right now."""
        return self._pump.running

    def __aiter__(self) -> Stream[T]:
        return self

    async def __anext__(self) -> tuple[int, Ok[T] | Err]:
        pump = self._pump
        if not pump.tasks and not self._closed:
            pump.start(self._workers)
        while not self._closed:
            pair = pump.take()
            if pair is not None:
                return pair
            if not pump.live:
                self._closed = True
                if pump.error is not None:
                    error, pump.error = pump.error, None
                    raise error
                break
            await pump.wait()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop: cancel the calls in flight and wait until every worker has finished."""
        self._closed = True
        pending = self._pump.cancel()
        if pending:
            await asyncio.wait(pending)

    async def __aenter__(self) -> Stream[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # A bare `async for` that breaks drops the stream without closing it: cancel here so
        # no worker outlives its owner. Cancelling is synchronous; the tasks end on the loop.
        pump = getattr(self, "_pump", None)
        if pump is None or not pump.tasks:
            return
        with contextlib.suppress(RuntimeError):  # the loop may already be closed
            pump.cancel()

"""Which event loop runs a client's calls, and how calls from elsewhere reach it.

A client's connection pool and gate belong to one event loop: the first that used the client
(sluice's background loop when that was a ``*_sync`` method), until that loop ends, when the
next loop to use the client takes it over. Calls made on any other loop are handed to the
owner while it runs (in its own thread), and their results handed back, so one client serves
synchronous callers and async ones alike. A synchronous call made on the owning loop's own
thread would wait for that loop while blocking it: it is refused.

    result = await forward(client_call(), owner)       # run on ``owner``, awaited here
    async for delta in ForwardedIterator(deltas, owner): ...
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Awaitable, Coroutine
from typing import Any, Generic, TypeVar

__all__ = [
    "BlockingCallWarning",
    "ForwardedIterator",
    "check_blocking",
    "forward",
    "stranded_error",
]

T = TypeVar("T")


class BlockingCallWarning(RuntimeWarning):
    """A ``*_sync`` method was called from async code: the event loop running that code is
    blocked, every other task on it stalled, for the whole call. Use the async method there
    (``await client.chat(...)``)."""


def stranded_error(owner: asyncio.AbstractEventLoop) -> RuntimeError:
    """The error for a call that cannot reach the loop owning the client."""
    if owner.is_closed():
        state = "ended while the call was waiting for it"
    else:
        state = "is not running (stopped between run_until_complete() calls, say)"
    return RuntimeError(
        f"the event loop that owns this sluice.llm.Client {state}; its connection pool and "
        "gate belong to that loop. Use the client while that loop runs, or end the loop "
        "(asyncio.run() does) so that the next loop to use the client takes it over"
    )


async def forward(coroutine: Coroutine[Any, Any, T], owner: asyncio.AbstractEventLoop) -> T:
    """Run ``coroutine`` on ``owner`` (running in another thread) and return its result here;
    cancelling the caller cancels it there."""
    try:
        future = asyncio.run_coroutine_threadsafe(coroutine, owner)
    except RuntimeError:  # the loop closed meanwhile
        coroutine.close()
        raise stranded_error(owner) from None
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if future.cancelled() and task is not None and not task.cancelling():
            # Cancelled over there, not here: the owning loop is shutting down.
            raise stranded_error(owner) from None
        raise


async def _step(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()


async def _finish(closing: Awaitable[object]) -> None:
    await closing


class ForwardedIterator(Generic[T]):
    """An async iterator that runs on the loop owning the client, iterated from another loop
    (its ``aclose`` and ``async with`` included)."""

    __slots__ = ("_iterator", "_owner")

    def __init__(self, iterator: AsyncIterator[T], owner: asyncio.AbstractEventLoop) -> None:
        self._iterator = iterator
        self._owner = owner

    def __aiter__(self) -> ForwardedIterator[T]:
        return self

    async def __anext__(self) -> T:
        return await forward(_step(self._iterator), self._owner)

    async def aclose(self) -> None:
        close = getattr(self._iterator, "aclose", None)
        if close is not None:
            await forward(_finish(close()), self._owner)

    async def __aenter__(self) -> ForwardedIterator[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def check_blocking(owner: asyncio.AbstractEventLoop | None, method: str, instead: str) -> None:
    """Before a ``*_sync`` method blocks the calling thread: refuse it on the loop that owns
    the client (it would wait for itself), warn on any other running loop."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return  # plain synchronous code: blocking is what it asked for
    if running is owner:
        raise RuntimeError(
            f"client.{method}() was called on the event loop that runs this client, which it "
            f"would block while waiting for it: use '{instead}' in async code"
        )
    warnings.warn(
        f"client.{method}() blocks the running event loop until the call ends (every other "
        f"task on it waits); in async code use '{instead}'",
        BlockingCallWarning,
        stacklevel=3,
    )

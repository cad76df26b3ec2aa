"""An async stream stepped from synchronous code: each step runs on sluice's portal loop
(and from there on the loop that owns the client), and closing finishes the async iterator
on the loop it runs on before the stream releases its connection.

    steps = SyncSteps(stream)
    for item in steps: ...
    steps.close()

`SyncStream` is what the synchronous stream wrappers share: the stream they wrap, iteration,
``close`` and the ``with`` block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

from .. import run_sync

__all__ = ["SyncSteps", "SyncStream"]

Item = TypeVar("Item")
Item_co = TypeVar("Item_co", covariant=True)


class _AsyncStream(Protocol[Item_co]):
    def __aiter__(self) -> AsyncIterator[Item_co]: ...

    async def aclose(self) -> None: ...


async def _open(stream: _AsyncStream[Item]) -> AsyncIterator[Item]:
    """The stream's iterator, made on a loop (it starts there, or on the owning one)."""
    return aiter(stream)


class SyncSteps(Generic[Item]):
    """Iterate ``stream`` once, step by step, from synchronous code; `close` stops it."""

    __slots__ = ("_items", "_stream")

    def __init__(self, stream: _AsyncStream[Item]) -> None:
        self._stream = stream
        self._items: AsyncIterator[Item] | None = None

    def __iter__(self) -> Iterator[Item]:
        items = self._items = run_sync(_open, self._stream)
        try:
            while True:
                try:
                    item = run_sync(items.__anext__)
                except StopAsyncIteration:
                    return
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the stream and release its connection (idempotent)."""
        items, self._items = self._items, None
        close = getattr(items, "aclose", None)
        if close is not None:  # finish the async generator on the loop it runs on
            run_sync(close)
        run_sync(self._stream.aclose)


Stream = TypeVar("Stream", bound=_AsyncStream[Any])


class SyncStream(Generic[Stream, Item]):
    """A plain iterator over ``stream`` (an async stream of ``Item``), closed by `close` or
    at the end of a ``with`` block; the wrappers add the stream's figures."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self._steps: SyncSteps[Item] = SyncSteps(stream)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._steps)

    def close(self) -> None:
        """Stop the stream and release its connection (idempotent)."""
        self._steps.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

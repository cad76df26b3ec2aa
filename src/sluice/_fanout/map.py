"""The worker pool behind `Gate.map`, and the argument checks fan-out shares.

A fixed number of workers pull from one shared input. A sync input is numbered by
`enumerate` and pulled with ``next`` (no await, so pulls never interleave); an async input is
an `AsyncSource`, pulled one item at a time. Results go straight into their slot of the
result list. The first failure cancels the other workers; `MapJob.failure` then returns it with
a note.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from collections.abc import Iterator as SyncIterator
from types import MappingProxyType
from typing import Any

from .._errors import ConfigError
from .stream import AsyncSource

__all__ = ["MapJob", "check_errors", "check_fn", "check_quorum", "listed_targets"]


class MapJob:
    """One `map`: the shared input, the results, and the first failure."""

    __slots__ = (
        "_async",
        "_call",
        "_fn",
        "_ordered",
        "_sync",
        "error",
        "exhausted",
        "index",
        "others",
        "results",
        "tasks",
    )

    def __init__(
        self,
        call: Callable[..., Awaitable[Any]],
        fn: Any,
        ordered: bool,
        sync: SyncIterator[tuple[int, Any]] | None,
        source: AsyncSource | None,
    ) -> None:
        self._call, self._fn, self._ordered = call, fn, ordered
        self._sync, self._async = sync, source
        self.results: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.exhausted = False
        self.error: Exception | None = None
        self.index: int | None = None
        self.others: dict[int, Exception] = {}

    async def work(self) -> None:
        call, fn, ordered, sync = self._call, self._fn, self._ordered, self._sync
        results = self.results
        append = results.append
        while not self.exhausted:
            try:
                if sync is not None:
                    pulled = next(sync, None)
                else:
                    assert self._async is not None
                    pulled = await self._async.pull()
            except Exception as exc:
                self.fail(None, exc)
                return
            if pulled is None:
                self.exhausted = True
                return
            index, item = pulled
            if ordered:
                append(None)  # the slot for this index: pulls are numbered in append order
            try:
                value = await call(fn, item)
            except Exception as exc:
                self.fail(index, exc)
                return
            if ordered:
                results[index] = value
            else:
                append(value)

    def fail(self, index: int | None, exc: Exception) -> None:
        if self.error is not None:
            if index is not None:
                self.others[index] = exc
            return
        self.error, self.index, self.exhausted = exc, index, True
        if self._async is not None:
            self._async.stopped = True
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()

    def failure(self, owner: str, gate: str) -> Exception:
        """The first error, with a note on where it happened and what else failed."""
        error = self.error
        assert error is not None
        where = "the input raised" if self.index is None else f"item {self.index} failed"
        note = f"sluice: {owner} on gate {gate!r} stopped: {where}; calls in flight were cancelled"
        if self.others:
            shown = [f"item {i}: {type(e).__name__}({e})" for i, e in list(self.others.items())[:5]]
            more = len(self.others) - len(shown)
            note += f"; {len(self.others)} more failed: " + "; ".join(shown)
            note += f"; and {more} more" if more else ""
        error.add_note(note)
        with contextlib.suppress(AttributeError):  # an exception with __slots__ refuses it
            error.sluice_other_errors = MappingProxyType(dict(self.others))  # type: ignore[attr-defined]
        return error


def check_fn(owner: str, fn: object, what: str = "item") -> None:
    """``fn`` must be callable with one positional argument (the item): a function that
    cannot be is a bug in the caller's code, reported once here rather than as one failure
    per item."""
    if not callable(fn):
        raise TypeError(f"{owner}(fn=...) must be callable, got {fn!r}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or extension without one: cannot tell
        return
    try:
        signature.bind(_ITEM)
    except TypeError as exc:
        raise TypeError(
            f"{owner}(fn=...) is called with each {what} as its only argument, but "
            f"{_name(fn)}{_bare(signature)} cannot be ({exc}). Bind the other arguments first: "
            f"functools.partial(fn, other=...) or lambda {what}: fn({what}, other)"
        ) from None


_ITEM = object()


def _name(fn: object) -> str:
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) else type(fn).__name__


def _bare(signature: inspect.Signature) -> inspect.Signature:
    """The signature without annotations: the names and defaults are what matter here."""
    empty = inspect.Parameter.empty
    return signature.replace(
        parameters=[p.replace(annotation=empty) for p in signature.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )


def check_errors(owner: str, errors: object) -> bool:
    if errors == "raise":
        return False
    if errors == "return":
        return True
    raise ConfigError(f"{owner}(errors=...) must be 'raise' or 'return', got {errors!r}")


def listed_targets(owner: str, targets: object) -> list[Any]:
    if hasattr(type(targets), "__aiter__") or not hasattr(type(targets), "__iter__"):
        raise TypeError(
            f"{owner}(targets=...) must be an iterable such as a list (every target is called "
            f"at once), got {type(targets).__name__}"
        )
    return list(targets)  # type: ignore[call-overload, no-any-return]


def check_quorum(owner: str, quorum: object, count: int) -> int | None:
    if quorum is None:
        return None
    if isinstance(quorum, bool) or not isinstance(quorum, int) or not 1 <= quorum <= count:
        raise ConfigError(
            f"{owner}(quorum=...) must be None (wait for every target) or an integer from 1 to "
            f"the number of targets ({count}), got {quorum!r}"
        )
    return quorum

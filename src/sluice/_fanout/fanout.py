"""The fan-out helper behind `Gate.map`, `stream`, `broadcast` and `race`.

Every item is one call through the gate's kernel, so the gate's concurrency limit, rate
limits, retries, timeouts and breaker apply per item. `map` and `stream` run a fixed pool of
long-lived workers that pull from the input lazily (a list, a generator or an async
iterator): no task per item, and nothing pulled long before it can run. There are never more
workers than the gate can run at once, so on an otherwise idle gate no worker queues for a
permit.

The helper talks to the kernel through the `Runner` protocol only; the public signatures
and documentation live on `sluice.Gate`.

    fanout = FanOut(kernel)
    results = await fanout.map("gate.map", embed, chunks, True, "raise", None)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sized
from typing import Any, Protocol

from .._clock import Clock
from .._core.call import Call
from .._errors import ConfigError
from .._outcome import Err, Ok
from .._validate import check_int_at_least, check_positive
from .broadcast import AllFailedError, BroadcastResult, fan_out, keys_of, settle
from .map import MapJob, check_errors, check_fn, check_quorum, listed_targets
from .stream import Stream, open_source

__all__ = ["DEFAULT_WINDOW", "FanOut", "Runner"]

DEFAULT_WINDOW = 100
"""Items in flight when the gate has no fixed concurrency limit and no ``window=`` is given."""


class Runner(Protocol):
    """What fan-out needs of a gate's kernel."""

    name: str
    clock: Clock

    async def run(self, call: Call, fallback: Any) -> Any:
        """The result of one call under the gate's policies."""

    async def run_outcome(self, call: Call, fallback: Any) -> Ok[Any] | Err:
        """The outcome of one call under the gate's policies (never raises an `Exception`)."""

    def concurrency_ceiling(self) -> int | None:
        """The most calls the gate may ever run at once (``None``: unbounded)."""


class FanOut:
    """Fan-out over one gate's kernel."""

    __slots__ = ("_runner",)

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def _item(self, fn: Any, item: Any) -> Any:
        return self._runner.run(Call(fn, (item,), {}, None), None)

    def _item_outcome(self, fn: Any, item: Any) -> Any:
        return self._runner.run_outcome(Call(fn, (item,), {}, None), None)

    # ---------------------------------------------------------------- map / stream
    async def map(
        self,
        owner: str,
        fn: Any,
        items: Any,
        ordered: bool,
        errors: str,
        window: int | None,
    ) -> list[Any]:
        """Call ``fn(item)`` for every item; results in input order (or completion order)."""
        check_fn(owner, fn)
        returning = check_errors(owner, errors)
        _, workers = self._plan(owner, window, items)
        sync, source = open_source(owner, items)
        call = self._item_outcome if returning else self._item
        job = MapJob(call, fn, ordered, sync, source)
        if workers:
            async with asyncio.TaskGroup() as group:
                job.tasks = [group.create_task(job.work()) for _ in range(workers)]
        if job.error is not None:
            raise job.failure(owner, self._runner.name)
        return job.results

    def stream(
        self, owner: str, fn: Any, items: Any, ordered: bool, window: int | None
    ) -> Stream[Any]:
        """``(index, Ok | Err)`` for every item as calls complete, from a lazily pulled input."""
        check_fn(owner, fn)
        window, workers = self._plan(owner, window, items)
        source = open_source(owner, items)
        return Stream(
            self._item_outcome, fn, source, ordered=ordered, window=window, workers=workers
        )

    def _plan(self, owner: str, window: int | None, items: object) -> tuple[int, int]:
        """``(window, workers)``: workers never exceed the gate's permits nor a known length."""
        # An adaptive limit will move: enough workers to use all it may grow to (the ones
        # beyond the current limit wait for permits, which is where growth is measured).
        limit = self._runner.concurrency_ceiling()
        if window is None:
            window = DEFAULT_WINDOW if limit is None else limit
        else:
            check_int_at_least(owner, "window", window, 1)
        workers = window if limit is None else min(window, limit)
        if isinstance(items, Sized):
            workers = min(workers, len(items))
        return window, workers

    # ---------------------------------------------------------------- broadcast / race
    async def broadcast(
        self,
        owner: str,
        fn: Any,
        targets: Iterable[Any],
        quorum: int | None,
        deadline: float | None,
        cancel_rest: bool,
    ) -> BroadcastResult[Any, Any]:
        """Call ``fn(target)`` for every target at once; each failure stays its own."""
        check_fn(owner, fn, "target")
        listed = listed_targets(owner, targets)
        keys_of(owner, listed)
        need = check_quorum(owner, quorum, len(listed))
        seconds = None if deadline is None else check_positive(owner, "deadline", deadline)
        runner = self._runner
        fan = await fan_out(
            self._item, runner.name, runner.clock.now(), fn, listed, quorum=need, seconds=seconds
        )
        if fan.open and not cancel_rest:
            fan.detach(asyncio.get_running_loop())
            return fan.snapshot()
        result = fan.snapshot(cancelled=True)
        await settle(fan.stop())
        return result

    async def race(
        self, owner: str, fn: Any, targets: Iterable[Any], deadline: float | None
    ) -> Any:
        """The first success of ``fn(target)`` over all targets; the rest are cancelled."""
        check_fn(owner, fn, "target")
        listed = listed_targets(owner, targets)
        if not listed:
            raise ConfigError(f"{owner}(targets=...) must hold at least one target, got none")
        seconds = None if deadline is None else check_positive(owner, "deadline", deadline)
        runner = self._runner
        fan = await fan_out(
            self._item, runner.name, runner.clock.now(), fn, listed, quorum=1, seconds=seconds
        )
        await settle(fan.stop())
        if fan.values:
            return next(iter(fan.values.values()))  # the first to settle
        errors = [fan.errors[position] for position in range(len(listed))]
        raise AllFailedError(f"gate {runner.name!r}: all {len(listed)} target(s) failed", errors)

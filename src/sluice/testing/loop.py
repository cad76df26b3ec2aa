"""An event loop whose clock is virtual (see `sluice.testing` for what it is for).

When no callback is ready and nothing real is pending (no I/O, no job on a worker thread or
process), the loop jumps straight to the next timer instead of sleeping. While a job runs on a
worker thread or process, time flows at the real rate, so real work and virtual timers still
interleave correctly.

    loop = VirtualTimeLoop()
    loop.run_until_complete(asyncio.sleep(30))   # returns at once
    assert loop.time() == 30.0
"""

from __future__ import annotations

import asyncio
import heapq
import selectors
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar, TypeVarTuple, Unpack

from .._executors.pending import pending_jobs

__all__ = ["VirtualTimeLoop", "run"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class _VirtualSelector(selectors.BaseSelector):
    """Delegates to a real selector, but turns "sleep until the next timer" into a time jump."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._real = selectors.DefaultSelector()
        self._loop = loop

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if self._loop.real_work_pending():
            # Something real (a thread, a process) will post a result: wait for it for as long
            # as the next timer allows, in real time, then fall through to the jump.
            ready = self._real.select(timeout)
            if ready:
                return ready
        elif timeout is None:
            return self._real.select(None)
        self._loop.advance_to_next_timer()
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop whose ``time()`` is virtual and jumps when the loop is idle."""

    def __init__(self, start: float = 0.0) -> None:
        self._virtual_now = float(start)
        self._executor_jobs = 0
        super().__init__(_VirtualSelector(self))

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (timers that become due fire next iteration)."""
        if seconds < 0:
            raise ValueError(f"advance(seconds=...) must be >= 0, got {seconds!r}")
        self._virtual_now += seconds

    def advance_to_next_timer(self) -> None:
        # The loop's timer heap is private to asyncio, but it is the only exact source of
        # "when is the next timer"; jumping to it exactly keeps asserted instants exact.
        scheduled: list[asyncio.TimerHandle] = self._scheduled  # type: ignore[attr-defined]
        while scheduled and scheduled[0].cancelled():
            heapq.heappop(scheduled)
        if scheduled:
            self._virtual_now = max(self._virtual_now, scheduled[0].when())

    def real_work_pending(self) -> bool:
        return self._executor_jobs > 0 or pending_jobs() > 0

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[Unpack[Ts]], T], *args: *Ts
    ) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self._executor_jobs += 1
        future.add_done_callback(self._executor_job_done)
        return future

    def _executor_job_done(self, _future: asyncio.Future[Any]) -> None:
        self._executor_jobs -= 1


def run(main: Coroutine[Any, Any, T], *, start: float = 0.0, debug: bool | None = None) -> T:
    """Run ``main`` on a fresh `VirtualTimeLoop` (like `asyncio.run`) and return its result."""
    with asyncio.Runner(debug=debug, loop_factory=lambda: VirtualTimeLoop(start)) as runner:
        return runner.run(main)

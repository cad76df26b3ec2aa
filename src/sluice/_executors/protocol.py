"""What an executor is: somewhere other than the event loop that a call can run.

A gate routes every call that is not a coroutine function to an executor. Which one is decided
by the callable itself: a plain function goes to the gate's thread pool; a callable whose type
names an executor factory in ``__sluice_executor__`` goes to that executor (`sluice.cpu` names
the process pool). A new kind of worker (a cluster, a GPU queue) therefore plugs in by defining
its factory and a marker, without touching the gate:

    class RayFunction:
        __sluice_executor__ = RayExecutor          # RayExecutor(settings) -> Executor
        def __call__(self, *args, **kwargs): ...

Each gate creates each executor it needs once, lazily, from its `ExecutorSettings`.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Executor", "ExecutorFactory", "ExecutorSettings"]


@dataclass(frozen=True, slots=True)
class ExecutorSettings:
    """What a gate tells the executors it creates: its name (for thread names and logs) and
    the sizes it was given (``processes=None``: the CPU count)."""

    name: str
    threads: int
    processes: int | None = None


class Executor(Protocol):
    """Runs calls away from the event loop; every method may be called from the loop thread."""

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> cf.Future[Any]:
        """Start ``fn(*args, **kwargs)``; a thread-safe future for its result. Cancelling the
        future cancels the job if it has not started."""

    def explain(self, error: BaseException) -> None:
        """Add a note to an error the job raised, when the executor knows a likely cause."""

    def shutdown(self, *, wait: bool) -> None:
        """Cancel queued jobs and stop the workers once their current job ends (``wait``:
        block until they have)."""


ExecutorFactory = Callable[[ExecutorSettings], Executor]

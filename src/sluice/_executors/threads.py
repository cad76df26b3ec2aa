"""The thread executor: plain (blocking) functions run on a gate's bounded thread pool.

A plain function is assumed to block (an SDK call, ``requests``, file I/O), so it runs on a
worker thread and can no longer freeze the event loop. The caller's context variables travel
with it (the deadline, `sluice.record_usage`'s target). A thread cannot be interrupted: when
its caller is cancelled or times out the caller leaves at once and the thread's result is
discarded when it ends.

    executor = ThreadExecutor(ExecutorSettings("llm", threads=8))
    future = executor.submit(requests.get, (url,), {})
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from .protocol import ExecutorSettings

__all__ = ["ThreadExecutor"]


class ThreadExecutor:
    """A thread pool of ``settings.threads`` workers named after the gate."""

    def __init__(self, settings: ExecutorSettings) -> None:
        self._pool = cf.ThreadPoolExecutor(
            max_workers=settings.threads, thread_name_prefix=f"sluice-{settings.name}"
        )

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> cf.Future[Any]:
        return self._pool.submit(_run_in_thread, contextvars.copy_context(), fn, args, kwargs)

    def explain(self, error: BaseException) -> None:
        pass

    def shutdown(self, *, wait: bool) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


def _run_in_thread(
    ctx: contextvars.Context, fn: Callable[..., Any], args: Any, kwargs: Mapping[str, Any]
) -> Any:
    result = ctx.run(fn, *args, **kwargs)
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        raise TypeError(
            f"{fn!r} returned an awaitable but is not declared `async def`, so sluice ran it on "
            "a thread. Pass the async function itself (with its arguments: "
            "gate.run(fn, *args)) instead of a lambda or wrapper around it."
        )
    return result

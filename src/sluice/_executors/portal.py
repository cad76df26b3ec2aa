"""The sync facade: run async code from code that is not async.

One background thread runs one event loop for the whole process (started on first use,
stopped at interpreter exit). `run_sync` submits a coroutine to it and blocks the calling
thread until the result is ready. It works from plain scripts, from many threads at once, and
from inside a running event loop such as Jupyter's, because the work never runs on the caller's
loop. This is how a library keeps its synchronous API while its core is async:

    def fetch_all(urls: list[str]) -> list[str]:          # a sync function, unchanged for callers
        return sluice.run_sync(gate.map, download, urls)  # concurrency happens inside

A KeyboardInterrupt in the waiting thread cancels the submitted coroutine.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures as cf
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

__all__ = ["Portal", "portal", "run_sync"]

P = ParamSpec("P")
T = TypeVar("T")


class Portal:
    """A daemon thread running an event loop, and a way to run coroutines on it."""

    def __init__(self, name: str = "sluice-portal") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is not None and self.running:
                return self._loop
            ready = threading.Event()
            loop = asyncio.new_event_loop()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                try:
                    loop.run_forever()
                finally:
                    _drain(loop)

            thread = threading.Thread(target=serve, name=self._name, daemon=True)
            thread.start()
            if not ready.wait(timeout=10.0):  # pragma: no cover - a thread that cannot start
                raise RuntimeError("sluice could not start its background event loop thread")
            self._loop, self._thread = loop, thread
            return loop

    def in_portal_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``await fn(*args, **kwargs)`` on the portal loop; block until it finishes."""
        if self.in_portal_thread():
            raise RuntimeError(
                "sluice.run_sync() was called from the sluice portal's own event loop, where it "
                "would wait for itself forever; `await` the coroutine instead"
            )
        loop = self._ensure_loop()
        coroutine = _as_coroutine(fn, args, kwargs)
        future: cf.Future[T] = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result()
        except BaseException:
            # Ctrl-C (or any error raised while waiting) must not leave the work running.
            future.cancel()
            raise

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel what still runs on the portal loop and join its thread (bounded)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if thread is threading.current_thread():
            raise RuntimeError("the sluice portal cannot stop itself from its own thread")
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # already closed
            return
        thread.join(timeout)


async def _as_coroutine(
    fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    awaitable = fn(*args, **kwargs)
    if not isinstance(awaitable, Awaitable):
        raise TypeError(
            f"sluice.run_sync() needs an async function (one returning an awaitable); "
            f"{fn!r} returned {type(awaitable).__name__}. For a plain function use gate.run_sync()."
        )
    return await awaitable


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the loop's remaining tasks, let them finish, and close it."""
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=5.0))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


portal = Portal()
atexit.register(portal.stop)


def run_sync(fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run an async function to completion from synchronous code and return its result.

    result = sluice.run_sync(client.chat, model="m", messages=msgs)
    results = sluice.run_sync(gate.map, work, items)
    sluice.run_sync(asyncio.sleep, 0.1)
    """
    return portal.call(fn, *args, **kwargs)

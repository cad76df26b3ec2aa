"""A gate's executors: created on first use, one per factory, and closed with the gate.

`Executors.run` hands a call to the executor its kind names and waits for the result on the
loop. ``on_done`` runs on the loop once the worker is really free, even when the caller has
stopped waiting (cancelled, timed out): the gate gives back the call's concurrency permit
there, so the bound on running work holds for abandoned calls too.

    executors = Executors(ExecutorSettings("llm", threads=8))
    text = await executors.run(THREAD, requests.get, (url,), {}, on_done=release)
    await executors.aclose()
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .pending import job_finished, job_started
from .protocol import Executor, ExecutorFactory, ExecutorSettings

__all__ = ["Executors"]


class Executors:
    """The executors of one gate, by factory, and the jobs they are running."""

    def __init__(self, settings: ExecutorSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._executors: dict[ExecutorFactory, Executor] = {}
        self._live: set[cf.Future[Any]] = set()
        self._closed = False

    @property
    def settings(self) -> ExecutorSettings:
        return self._settings

    def _executor(self, factory: ExecutorFactory) -> Executor:
        executor = self._executors.get(factory)
        if executor is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"the executors of gate {self._settings.name!r} are closed")
                executor = self._executors.get(factory)
                if executor is None:
                    executor = self._executors[factory] = factory(self._settings)
        return executor

    async def run(
        self,
        factory: ExecutorFactory,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        on_done: Callable[[], None],
    ) -> Any:
        """``fn(*args, **kwargs)`` on the executor ``factory`` makes; ``on_done`` is called on
        the loop once the worker is free (also when this coroutine is cancelled first, or when
        the job cannot start)."""
        loop = asyncio.get_running_loop()
        try:
            executor = self._executor(factory)
            job_started()
            try:
                job = executor.submit(fn, args, kwargs)
            except BaseException:
                job_finished()
                raise
        except BaseException:
            on_done()
            raise
        with self._lock:
            self._live.add(job)
        # Order matters for virtual time: the result is posted to the loop (waking it) before
        # the job stops counting as pending, so the loop never sees "idle" in between.
        future = asyncio.wrap_future(job, loop=loop)
        job.add_done_callback(functools.partial(_finished, loop, on_done))
        job.add_done_callback(self._forget)
        try:
            return await future
        except Exception as exc:
            executor.explain(exc)
            raise

    def _forget(self, job: cf.Future[Any]) -> None:
        with self._lock:
            self._live.discard(job)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop every executor: queued jobs are cancelled, running ones finish (``wait`` for
        them)."""
        for executor in self._take():
            executor.shutdown(wait=wait)

    async def aclose(self) -> None:
        """Stop every executor without blocking the loop: queued jobs are cancelled, running
        ones are awaited, then the idle workers are joined. Bound it with `asyncio.timeout`."""
        executors = self._take()
        for executor in executors:
            executor.shutdown(wait=False)
        with self._lock:
            live = list(self._live)
        if live:
            await asyncio.wait([asyncio.wrap_future(job) for job in live])
        for executor in executors:
            # Every job has ended, so the workers are only exiting: joining them is brief.
            executor.shutdown(wait=True)

    def _take(self) -> list[Executor]:
        with self._lock:
            self._closed = True
            executors = list(self._executors.values())
            self._executors.clear()
        return executors


def _finished(
    loop: asyncio.AbstractEventLoop, on_done: Callable[[], None], _job: cf.Future[Any]
) -> None:
    try:
        loop.call_soon_threadsafe(on_done)
    except RuntimeError:  # the loop is closed: nobody is left to hand the permit to
        pass
    finally:
        job_finished()
